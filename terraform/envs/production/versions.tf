terraform {
  required_version = ">= 1.6.0"

  # Exact versions; .terraform.lock.hcl records them (see docs/infrastructure.md for adding
  # the registry checksums with `tofu providers lock`).
  required_providers {
    maas = {
      source  = "canonical/maas"
      version = "2.6.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "3.0.2"
    }
  }

  # Remote state in any S3-compatible bucket, configured at init time so that no endpoint or
  # credential lives in Git: `tofu init -backend-config=backend.hcl` (see
  # backend.hcl.example) with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment.
  backend "s3" {}
}
