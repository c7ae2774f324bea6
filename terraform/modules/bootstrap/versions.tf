terraform {
  required_version = ">= 1.6.0"

  required_providers {
    # Version 3 of the Helm provider (plugin framework): `kubernetes = { ... }` and
    # `set = [ ... ]` are attributes, not blocks. The exact version is pinned by the env.
    helm = {
      source  = "hashicorp/helm"
      version = ">= 3.0.0, < 4.0.0"
    }
  }
}
