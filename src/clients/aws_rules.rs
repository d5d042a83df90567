//! AWS naming rules, checked at plan time so a bad value never reaches an AWS call. Each cites the
//! API reference that states it; docs/validation.md lists where each is used.

/// Whether every character of `s` is a word character (`\w`: ASCII letters, digits, `_`) or one
/// of `extra`.
fn word_or(s: &str, extra: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(c))
}

/// An IAM role ARN: `arn:<partition>:iam::<12-digit account>:role/<path and name>`
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>); the STS AssumeRole
/// `RoleArn` is 20-2048 characters
/// (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>).
pub fn iam_role_arn(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let ok = (20..=2048).contains(&s.len())
        && matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty()));
    if ok { Ok(()) } else { Err(format!("{s:?} is not an IAM role ARN such as arn:aws:iam::111122223333:role/argocd")) }
}

/// STS `RoleSessionName`: 2-64 characters of `[\w+=,.@-]`
/// (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>).
pub fn role_session_name(s: &str) -> Result<(), String> {
    if (2..=64).contains(&s.len()) && word_or(s, "+=,.@-") {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a role session name: 2 to 64 letters, digits or any of _+=,.@- (STS AssumeRole RoleSessionName)"
        ))
    }
}

/// STS `ExternalId`: 2-1224 characters of `[\w+=,.@:\/-]`
/// (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>). The value is
/// sensitive, so the message never repeats it.
pub fn external_id(s: &str) -> Result<(), String> {
    if (2..=1224).contains(&s.len()) && word_or(s, "+=,.@:/-") {
        Ok(())
    } else {
        Err(format!(
            "the external ID ({} characters) must be 2 to 1224 letters, digits or any of _+=,.@:/- (STS AssumeRole ExternalId)",
            s.chars().count()
        ))
    }
}

/// An EKS cluster name: 1-100 characters, `^[0-9A-Za-z][A-Za-z0-9\-_]*$`
/// (<https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html>, `name`).
pub fn eks_cluster_name(s: &str) -> Result<(), String> {
    let ok = (1..=100).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an EKS cluster name: 1 to 100 letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

/// An AWS region code such as `us-east-1`, `us-gov-west-1` or `eusc-de-east-1`: the union of the
/// partitions' `regionRegex` in the SDKs' endpoint rules (partitions.json: `^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$`,
/// `^cn\-\w+\-\d+$`, `^us\-gov\-\w+\-\d+$`, `^us\-iso\-\w+\-\d+$`, …): lowercase parts joined by
/// `-`, at least three, the last a number.
pub fn region(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() >= 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if ok { Ok(()) } else { Err(format!("{s:?} is not an AWS region code such as us-east-1 or eu-central-2")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_naming_rules() {
        assert!(iam_role_arn("arn:aws:iam::111122223333:role/argocd").is_ok());
        assert!(iam_role_arn("arn:aws-us-gov:iam::111122223333:role/path/r").is_ok());
        assert!(iam_role_arn("arn:aws-cn:iam::111122223333:role/path/argocd").is_ok());
        for bad in [
            "argocd",
            "arn:aws:iam::1111:role/r",
            "arn:aws:iam::111122223333:user/u",
            "arn:aws:sts::111122223333:role/x",
            "arn:aws:iam::111122223333:role/",
        ] {
            assert!(iam_role_arn(bad).is_err(), "{bad}");
        }
        assert!(role_session_name("terraform-provider-shard").is_ok());
        assert!(role_session_name("a_b+c=d,e.f@g-h").is_ok());
        for bad in ["x", "has space", "a/b", &"s".repeat(65)] {
            assert!(role_session_name(bad).is_err(), "{bad}");
        }
        assert!(external_id("a:b/c-d").is_ok());
        assert!(external_id(&"e".repeat(1224)).is_ok());
        for bad in ["Z", "secret value", &"Z".repeat(1225)] {
            let e = external_id(bad).unwrap_err();
            assert!(!e.contains(bad), "the message must not repeat the sensitive value: {e}");
        }
        assert!(eks_cluster_name("shard-2_a").is_ok());
        assert!(eks_cluster_name("2shard").is_ok());
        for bad in ["", "-shard", "shard.2", "sh ard", &"c".repeat(101)] {
            assert!(eks_cluster_name(bad).is_err(), "{bad}");
        }
        for ok in ["us-east-1", "us-gov-west-1", "cn-north-1", "us-isob-east-1", "eusc-de-east-1", "ap-southeast-5"] {
            assert!(region(ok).is_ok(), "{ok}");
        }
        for bad in ["", "us-east", "US-EAST-1", "us_east_1", "useast1", "us-east-1a", "us--1"] {
            assert!(region(bad).is_err(), "{bad}");
        }
    }
}
