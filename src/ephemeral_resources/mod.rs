//! Ephemeral resource types (Terraform 1.10+), one file each.

pub mod eks_token;
