//! `eks:DescribeCluster`, written once: `data "shard_eks_cluster"` shows it, and Kubernetes
//! connections by `eks_cluster_name` take the endpoint and CA from it.
//!
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeCluster.html>: `endpoint`
//! and `certificateAuthority.data` (base64 of the PEM) are set once the cluster is ACTIVE.

use super::aws::{AwsClients, AwsError, api_error};
use super::pem::normalise_ca;

/// What DescribeCluster says of a cluster; empty strings from the API are `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EksCluster {
    pub name: String,
    pub arn: String,
    /// `CREATING`, `ACTIVE`, `UPDATING`, `DELETING`, `FAILED` or `PENDING`.
    pub status: String,
    /// Without a trailing `/`.
    pub endpoint: Option<String>,
    /// As EKS returns it: base64 of the PEM.
    pub certificate_authority_data: Option<String>,
    pub oidc_issuer_url: Option<String>,
    pub version: Option<String>,
    pub platform_version: Option<String>,
}

impl EksCluster {
    /// The CA as PEM (None until EKS has one); an error when it is not base64 of a PEM
    /// certificate (moto's is random text, for one).
    pub fn ca_pem(&self) -> Result<Option<String>, String> {
        match &self.certificate_authority_data {
            Some(raw) => normalise_ca(raw)
                .map(Some)
                .map_err(|e| format!("certificateAuthority.data is not base64 of a PEM certificate: {e}")),
            None => Ok(None),
        }
    }

    /// The endpoint and CA (PEM) a Kubernetes client needs: both exist once the cluster is ACTIVE.
    pub fn endpoint_and_ca(&self) -> Result<(String, String), String> {
        let status = &self.status;
        let endpoint = self
            .endpoint
            .clone()
            .ok_or_else(|| format!("has no API endpoint yet (status {status}); wait until it is ACTIVE"))?;
        let ca = self
            .ca_pem()
            .map_err(|e| format!("{e} (certificateAuthority.data is not usable)"))?
            .ok_or_else(|| format!("has no certificate authority yet (status {status})"))?;
        Ok((endpoint, ca))
    }
}

/// One DescribeCluster call with the provider's AWS settings.
pub async fn describe_cluster(aws: &AwsClients, name: &str) -> Result<EksCluster, AwsError> {
    let client = aws.eks().await?;
    let endpoint = aws.settings().endpoints.eks.clone().unwrap_or_else(|| "the regional EKS endpoint".into());
    tracing::debug!(aws_call = "DescribeCluster", cluster = %name, "aws call");
    let out = client
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(|e| api_error("DescribeCluster", &format!("EKS cluster {name}"), &endpoint, &e))?;
    let Some(c) = out.cluster() else {
        return Err(AwsError::Api {
            call: "DescribeCluster",
            resource: format!("EKS cluster {name}"),
            why: format!("{endpoint} returned no cluster"),
            chain: String::new(),
            code: None,
            transient: false,
        });
    };
    let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    Ok(EksCluster {
        name: name.to_string(),
        arn: c.arn().unwrap_or_default().to_string(),
        status: c.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
        endpoint: text(c.endpoint()).map(|e| e.trim_end_matches('/').to_string()),
        certificate_authority_data: text(c.certificate_authority().and_then(|a| a.data())),
        oidc_issuer_url: text(c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer())),
        version: text(c.version()),
        platform_version: text(c.platform_version()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_needs_an_endpoint_and_a_real_ca() {
        let cert = rcgen::generate_simple_self_signed(vec!["h".into()]).unwrap().cert.pem();
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(&cert)
        };
        let creating = EksCluster { status: "CREATING".into(), ..Default::default() };
        assert!(creating.endpoint_and_ca().unwrap_err().contains("no API endpoint yet (status CREATING)"));
        let active = EksCluster {
            status: "ACTIVE".into(),
            endpoint: Some("https://abc.eks.amazonaws.com".into()),
            certificate_authority_data: Some(b64),
            ..Default::default()
        };
        assert_eq!(active.endpoint_and_ca().unwrap(), ("https://abc.eks.amazonaws.com".to_string(), cert));
        let moto = EksCluster { certificate_authority_data: Some("kxEeTUZ7QDCqA3zNdrsJ".into()), ..active };
        assert!(moto.endpoint_and_ca().unwrap_err().contains("certificateAuthority.data is not usable"));
    }
}
