terraform {
  required_version = ">= 1.6.0"

  # No provider: the cluster is driven by k0sctl through the built-in terraform_data
  # resource, so this module needs nothing from a registry and is validated and tested with
  # the real OpenTofu binary in tests/terraform.
}
