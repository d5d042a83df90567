//! The provider binary as go-plugin sees it: handshake, AutoMTLS with Terraform's kind of
//! client certificate (ECDSA P-521/SHA-512), health, Shutdown and debug mode.

mod support;

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use shard_provider::protocol::go_plugin::grpc_controller_client::GrpcControllerClient;
use shard_provider::protocol::health::{HealthCheckRequest, health_client::HealthClient};
use shard_provider::protocol::tfplugin6::{get_provider_schema, provider_client::ProviderClient};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

const COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// A client certificate like Terraform's: self-signed ECDSA P-521 with SHA-512, SAN localhost.
fn terraform_like_cert() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.pem(), cert.der().clone(), key_der)
}

struct Plugin {
    child: Child,
    network: String,
    address: String,
    server_cert: Vec<u8>,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_plugin(client_cert_pem: Option<&str>) -> Plugin {
    let mut cmd = Command::new(support::provider_binary());
    cmd.env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env_remove("TF_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(pem) = client_cert_pem {
        cmd.env("PLUGIN_CLIENT_CERT", pem);
    }
    let mut child = cmd.spawn().expect("start provider");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(parts.len(), 6, "handshake line {line:?}");
    assert_eq!(&parts[..2], ["1", "6"]);
    assert_eq!(parts[4], "grpc");
    use base64::Engine as _;
    let server_cert = if parts[5].is_empty() {
        Vec::new()
    } else {
        assert!(!parts[5].ends_with('='), "certificate must be unpadded base64");
        base64::engine::general_purpose::STANDARD_NO_PAD.decode(parts[5]).expect("base64 cert")
    };
    Plugin { child, network: parts[2].into(), address: parts[3].into(), server_cert }
}

/// Trusts exactly the announced server certificate, as go-plugin's client does.
#[derive(Debug)]
struct Announced(Vec<u8>);

impl ServerCertVerifier for Announced {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        assert_eq!(name.to_str(), "localhost");
        if end_entity.as_ref() == self.0.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("unexpected server certificate".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(m, c, d, &algs)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(m, c, d, &algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

async fn connect(
    plugin: &Plugin,
    client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> Result<Channel, String> {
    assert_eq!(plugin.network, "unix");
    let path = plugin.address.clone();
    let endpoint = Endpoint::from_static("http://localhost").connect_timeout(Duration::from_secs(5));
    let tls = if plugin.server_cert.is_empty() {
        None
    } else {
        let builder =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Announced(plugin.server_cert.clone())));
        let mut cfg = match client {
            Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
            None => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Some(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
    };
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            let tls = tls.clone();
            async move {
                let unix = tokio::net::UnixStream::connect(path).await?;
                let io: Box<dyn IoStream> = match tls {
                    None => Box::new(unix),
                    Some(tls) => Box::new(tls.connect(ServerName::try_from("localhost").unwrap(), unix).await?),
                };
                Ok::<_, std::io::Error>(TokioIo::new(io))
            }
        }))
        .await
        .map_err(|e| format!("{e:?}"))?;
    // The TLS 1.3 server verifies the client certificate after the client's handshake
    // completes, so a refusal surfaces on the first call.
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest { service: "plugin".into() })
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(channel)
}

trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> IoStream for T {}

#[test]
fn without_the_magic_cookie_it_explains_and_exits_1() {
    let out = Command::new(support::provider_binary()).env_remove("TF_PLUGIN_MAGIC_COOKIE").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("This binary is a plugin") && err.contains("run it through terraform"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn refuses_a_protocol_it_does_not_speak() {
    let out = Command::new(support::provider_binary())
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("speaks only version 6"));
}

#[tokio::test]
async fn mutual_tls_accepts_only_terraforms_certificate() {
    let (pem, cert, key) = terraform_like_cert();
    let plugin = start_plugin(Some(&pem));
    assert!(!plugin.server_cert.is_empty(), "AutoMTLS must announce a certificate");

    let channel = connect(&plugin, Some((cert, key))).await.expect("Terraform's certificate is accepted");
    let mut client = ProviderClient::new(channel)
        .max_decoding_message_size(shard_provider::protocol::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(shard_provider::protocol::MAX_MESSAGE_BYTES);
    let schema =
        client.get_provider_schema(get_provider_schema::Request {}).await.expect("GetProviderSchema").into_inner();
    assert!(schema.data_source_schemas.contains_key("shard_listener"));

    // Messages beyond tonic's 4 MiB default get through (Terraform allows 256 MiB).
    let schema = shard_provider::data_sources::listener::ListenerDataSource;
    use shard_provider::framework::DataSource as _;
    let ty = schema.schema().value_type();
    let huge = shard_provider::protocol::value::Value::Object(
        [("listener_arn".to_string(), shard_provider::protocol::value::Value::str("x".repeat(6 << 20)))].into(),
    )
    .conform(&ty);
    let resp = client
        .validate_data_resource_config(shard_provider::protocol::tfplugin6::validate_data_resource_config::Request {
            type_name: "shard_listener".into(),
            config: Some(shard_provider::protocol::tfplugin6::DynamicValue {
                msgpack: shard_provider::protocol::msgpack::encode(&ty, &huge),
                json: vec![],
            }),
        })
        .await
        .expect("a 6 MiB request is accepted")
        .into_inner();
    assert!(resp.diagnostics.iter().any(|d| d.summary.contains("listener_arn")), "{:?}", resp.diagnostics.len());

    // Another certificate of the same kind, and no certificate at all, are both refused.
    let (_, other_cert, other_key) = terraform_like_cert();
    let err = connect(&plugin, Some((other_cert, other_key))).await.expect_err("foreign certificate refused");
    assert!(!err.is_empty());
    connect(&plugin, None).await.expect_err("client without certificate refused");
}

#[tokio::test]
async fn shutdown_stops_the_process() {
    let (pem, cert, key) = terraform_like_cert();
    let mut plugin = start_plugin(Some(&pem));
    let channel = connect(&plugin, Some((cert, key))).await.unwrap();
    GrpcControllerClient::new(channel).shutdown(shard_provider::protocol::go_plugin::Empty {}).await.expect("Shutdown");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = plugin.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "provider still running after Shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!std::path::Path::new(&plugin.address).exists(), "socket file left behind");
}

#[tokio::test]
async fn debug_mode_prints_a_reattach_line_and_serves_plaintext() {
    let mut child = Command::new(support::provider_binary())
        .arg("--debug")
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .env("TF_LOG_PROVIDER_SHARD", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says it serves plaintext: on the console and in its log.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    for _ in 0..2 {
        err.read_line(&mut said).unwrap();
    }
    assert!(said.contains("Warning: serving gRPC in plaintext"), "{said}");
    assert!(said.contains("\"@level\":\"warn\"") && said.contains("serving gRPC in plaintext: --debug"), "{said}");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut reattach = None;
    for _ in 0..5 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(v) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS=") {
            reattach = Some(v.trim_matches('\'').to_string());
            break;
        }
    }
    let reattach: serde_json::Value = serde_json::from_str(&reattach.expect("reattach line")).unwrap();
    let entry = &reattach["registry.terraform.io/shardkit/shard"];
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Pid"], child.id());
    let plugin = Plugin {
        child,
        network: entry["Addr"]["Network"].as_str().unwrap().into(),
        address: entry["Addr"]["String"].as_str().unwrap().into(),
        server_cert: Vec::new(),
    };
    connect(&plugin, None).await.expect("plaintext in debug mode");
}

#[test]
fn plaintext_is_served_only_with_a_reason_the_log_gives() {
    use shard_provider::protocol::server::plaintext_reason;
    assert_eq!(plaintext_reason(false, true), None, "AutoMTLS: nothing to say");
    assert_eq!(plaintext_reason(true, true), None);
    assert!(plaintext_reason(true, false).unwrap().contains("--debug"));
    assert!(plaintext_reason(false, false).unwrap().contains("PLUGIN_CLIENT_CERT"));
}

#[test]
fn command_line_flags_print_and_exit_without_serving() {
    let run = |arg: &str| Command::new(support::provider_binary()).arg(arg).output().expect("run the provider");
    let version = run("--version");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("terraform-provider-shard {}", env!("CARGO_PKG_VERSION"))
    );
    let help = run("--help");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.starts_with("usage: terraform-provider-shard") && text.contains("--debug"), "{text}");
    let bad = run("--bogus");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("unknown argument \"--bogus\"") && err.contains("usage:"), "{err}");
}

/// Corrupt values in every RPC that decodes one (a damaged plan file, a future Terraform's
/// encoding): each is refused (InvalidArgument naming the problem, or an error diagnostic),
/// never read as null, never a panic or a dead process.
#[tokio::test]
async fn corrupt_values_are_refused_and_the_provider_keeps_serving() {
    use shard_provider::protocol::tfplugin6 as pb;
    let (pem, cert, key) = terraform_like_cert();
    let mut plugin = start_plugin(Some(&pem));
    let channel = connect(&plugin, Some((cert, key))).await.expect("connect");
    let mut client = ProviderClient::new(channel);
    let schema = client.get_provider_schema(get_provider_schema::Request {}).await.expect("schema").into_inner();
    let garbage: [&[u8]; 4] = [&[0xc1], &[0x81, 0xa1, b'x'], &[0xdf, 0xff, 0xff, 0xff, 0xff], b"\x92\x01"];
    let dv = |bytes: &[u8]| Some(pb::DynamicValue { msgpack: bytes.to_vec(), json: vec![] });
    // Refused: a gRPC InvalidArgument (Terraform prints its message) or an error diagnostic.
    let refused = |r: Result<Vec<pb::Diagnostic>, tonic::Status>, what: &str| match r {
        Err(status) => assert!(
            status.code() == tonic::Code::InvalidArgument
                && ["msgpack", "JSON", "json"].iter().any(|w| status.message().contains(w)),
            "{what}: {status:?}"
        ),
        Ok(diags) => assert!(
            diags.iter().any(|d| d.severity == pb::diagnostic::Severity::Error as i32),
            "{what}: a corrupt value was accepted: {diags:?}"
        ),
    };

    for bytes in garbage {
        let r = client
            .configure_provider(pb::configure_provider::Request { config: dv(bytes), ..Default::default() })
            .await;
        refused(r.map(|r| r.into_inner().diagnostics), "ConfigureProvider");
        for type_name in schema.resource_schemas.keys() {
            let r = client
                .validate_resource_config(pb::validate_resource_config::Request {
                    type_name: type_name.clone(),
                    config: dv(bytes),
                    ..Default::default()
                })
                .await;
            refused(r.map(|r| r.into_inner().diagnostics), &format!("ValidateResourceConfig {type_name}"));
            let r = client
                .plan_resource_change(pb::plan_resource_change::Request {
                    type_name: type_name.clone(),
                    prior_state: dv(bytes),
                    proposed_new_state: dv(bytes),
                    config: dv(bytes),
                    ..Default::default()
                })
                .await;
            refused(r.map(|r| r.into_inner().diagnostics), &format!("PlanResourceChange {type_name}"));
            let r = client
                .read_resource(pb::read_resource::Request {
                    type_name: type_name.clone(),
                    current_state: dv(bytes),
                    ..Default::default()
                })
                .await;
            refused(r.map(|r| r.into_inner().diagnostics), &format!("ReadResource {type_name}"));
            let r = client
                .upgrade_resource_state(pb::upgrade_resource_state::Request {
                    type_name: type_name.clone(),
                    version: 0,
                    raw_state: Some(pb::RawState { json: bytes.to_vec(), flatmap: Default::default() }),
                })
                .await;
            refused(r.map(|r| r.into_inner().diagnostics), &format!("UpgradeResourceState {type_name}"));
        }
        for type_name in schema.data_source_schemas.keys() {
            let r = client
                .read_data_source(pb::read_data_source::Request {
                    type_name: type_name.clone(),
                    config: dv(bytes),
                    ..Default::default()
                })
                .await;
            refused(r.map(|r| r.into_inner().diagnostics), &format!("ReadDataSource {type_name}"));
        }
    }
    assert!(plugin.child.try_wait().expect("wait").is_none(), "the provider process died");
    client.get_provider_schema(get_provider_schema::Request {}).await.expect("still serving");
}

/// Issue 16, item 12: hostile numbers and durations in state and config (a number with an
/// exponent of i64::MAX, a u64 that is no i64, NaN, a timeout of 9999999999999h) give an error
/// diagnostic or an error status, never a panic, and the provider keeps serving.
#[tokio::test]
async fn hostile_numbers_in_state_and_config_give_diagnostics_and_the_provider_keeps_serving() {
    use rmpv::Value as Mp;
    use shard_provider::protocol::tfplugin6 as pb;
    let (pem, cert, key) = terraform_like_cert();
    let mut plugin = start_plugin(Some(&pem));
    let channel = connect(&plugin, Some((cert, key))).await.expect("connect");
    let mut client = ProviderClient::new(channel);
    let listener = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/lb/1/2";
    let tg = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/3";
    let hostile_numbers = || {
        vec![
            Mp::from("1e9223372036854775807"),
            Mp::from("-1e9223372036854775807"),
            Mp::from("18446744073709551615"),
            Mp::from(u64::MAX),
            Mp::F64(f64::NAN),
            Mp::F64(f64::INFINITY),
            Mp::F64(1e300),
            Mp::from("9".repeat(10_000)),
        ]
    };
    let weight_object = |weight: Mp, timeout: &str| {
        let mut b = Vec::new();
        let m = Mp::Map(vec![
            (Mp::from("id"), Mp::from(format!("{listener},{tg}"))),
            (Mp::from("listener_arn"), Mp::from(listener)),
            (Mp::from("target_group_arn"), Mp::from(tg)),
            (Mp::from("weight"), weight.clone()),
            (Mp::from("min_healthy_targets"), weight),
            (Mp::from("allow_total_outage"), Mp::Boolean(false)),
            (Mp::from("drain_delay"), Mp::from(timeout)),
            (Mp::from("on_destroy"), Mp::from("remove")),
            (
                Mp::from("timeouts"),
                Mp::Map(vec![
                    (Mp::from("create"), Mp::from(timeout)),
                    (Mp::from("update"), Mp::from(timeout)),
                    (Mp::from("delete"), Mp::from(timeout)),
                ]),
            ),
        ]);
        rmpv::encode::write_value(&mut b, &m).unwrap();
        Some(pb::DynamicValue { msgpack: b, json: vec![] })
    };
    let has_error =
        |diags: &[pb::Diagnostic]| diags.iter().any(|d| d.severity == pb::diagnostic::Severity::Error as i32);
    let refused = |r: Result<Vec<pb::Diagnostic>, tonic::Status>, what: &str| match r {
        Err(status) => assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}: {status:?}"),
        Ok(diags) => assert!(has_error(&diags), "{what}: accepted: {diags:?}"),
    };

    // The provider itself: lock_priority hostile.
    for n in hostile_numbers() {
        let mut b = Vec::new();
        rmpv::encode::write_value(&mut b, &Mp::Map(vec![(Mp::from("lock_priority"), n.clone())])).unwrap();
        let config = Some(pb::DynamicValue { msgpack: b, json: vec![] });
        let r = client
            .validate_provider_config(pb::validate_provider_config::Request { config: config.clone() })
            .await
            .map(|r| r.into_inner().diagnostics);
        refused(r, &format!("ValidateProviderConfig lock_priority = {n}"));
        let r = client
            .configure_provider(pb::configure_provider::Request { config, ..Default::default() })
            .await
            .map(|r| r.into_inner().diagnostics);
        refused(r, &format!("ConfigureProvider lock_priority = {n}"));
    }
    // A sane configuration, so resource RPCs get as far as the model.
    let mut b = Vec::new();
    rmpv::encode::write_value(
        &mut b,
        &Mp::Map(vec![
            (Mp::from("region"), Mp::from("eu-west-1")),
            (Mp::from("endpoints"), Mp::Map(vec![(Mp::from("elbv2"), Mp::from("http://127.0.0.1:9"))])),
        ]),
    )
    .unwrap();
    let r = client
        .configure_provider(pb::configure_provider::Request {
            config: Some(pb::DynamicValue { msgpack: b, json: vec![] }),
            ..Default::default()
        })
        .await
        .expect("configure");
    assert!(!has_error(&r.into_inner().diagnostics));

    let ty = "shard_weight".to_string();
    for n in hostile_numbers() {
        let what = format!("weight = {}", n.to_string().chars().take(40).collect::<String>());
        let r = client
            .validate_resource_config(pb::validate_resource_config::Request {
                type_name: ty.clone(),
                config: weight_object(n.clone(), "30s"),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().diagnostics);
        refused(r, &format!("ValidateResourceConfig {what}"));
        let r = client
            .read_resource(pb::read_resource::Request {
                type_name: ty.clone(),
                current_state: weight_object(n.clone(), "30s"),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().diagnostics);
        refused(r, &format!("ReadResource {what}"));
        let r = client
            .plan_resource_change(pb::plan_resource_change::Request {
                type_name: ty.clone(),
                prior_state: weight_object(n.clone(), "30s"),
                proposed_new_state: weight_object(Mp::from(10), "30s"),
                config: weight_object(Mp::from(10), "30s"),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().diagnostics);
        refused(r, &format!("PlanResourceChange prior {what}"));
        let r = client
            .apply_resource_change(pb::apply_resource_change::Request {
                type_name: ty.clone(),
                prior_state: weight_object(n.clone(), "30s"),
                planned_state: weight_object(n.clone(), "9999999999999h"),
                config: weight_object(n.clone(), "9999999999999h"),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().diagnostics);
        refused(r, &format!("ApplyResourceChange {what}"));
    }
    // Stored JSON state with the numbers as JSON numbers.
    for text in ["1e9223372036854775807", "-1e9223372036854775807", "18446744073709551615", "1e400"] {
        let json = format!(
            r#"{{"id":"x","listener_arn":"{listener}","target_group_arn":"{tg}","weight":{text},"min_healthy_targets":{text},"drain_delay":"9999999999999h"}}"#
        );
        let r = client
            .upgrade_resource_state(pb::upgrade_resource_state::Request {
                type_name: ty.clone(),
                version: 0,
                raw_state: Some(pb::RawState { json: json.into_bytes(), flatmap: Default::default() }),
            })
            .await;
        // Upgrading only re-encodes: the number is kept exactly (or refused), never a panic.
        if let Ok(r) = r {
            let r = r.into_inner();
            if !has_error(&r.diagnostics) {
                let state = r.upgraded_state.expect("a state").msgpack;
                let read = client
                    .read_resource(pb::read_resource::Request {
                        type_name: ty.clone(),
                        current_state: Some(pb::DynamicValue { msgpack: state, json: vec![] }),
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.into_inner().diagnostics);
                refused(read, &format!("ReadResource after upgrade, weight = {text}"));
            }
        }
    }
    assert!(plugin.child.try_wait().expect("wait").is_none(), "the provider process died");
    client.get_provider_schema(get_provider_schema::Request {}).await.expect("still serving");
}
