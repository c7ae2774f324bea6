terraform {
  required_version = ">= 1.6.0"

  required_providers {
    # The module only states which provider it needs; the exact version is pinned by the
    # root module (envs/*) and its lock file, so every env upgrades on its own schedule.
    maas = {
      source  = "canonical/maas"
      version = ">= 2.6.0, < 3.0.0"
    }
  }
}
