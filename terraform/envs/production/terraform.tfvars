# Node inventory of the production cluster (no secrets here: see variables.tf). Roles are
# data: to add a worker, add a line and run `tofu apply` (docs/infrastructure.md).
nodes = {
  "nl-cloud-hf-22-1"  = { role = "controller" }
  "nl-cloud-hf-22-w1" = { role = "worker" }
  "nl-cloud-hf-22-w2" = { role = "worker" }
  "nl-cloud-hf-22-w3" = { role = "worker" }
}

# The repository ArgoCD syncs; deploy/argocd/ names the same URL.
git_repo_url = "https://github.com/gallery-pipeline/gallery-pipeline.git"
