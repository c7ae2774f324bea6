# No secrets here: see variables.tf. The node inventory (names and roles) is in
# nodes.auto.tfvars.json next to this file, which Terraform loads by its name and the test
# cluster's scripts (scripts/cluster/nodes.sh) read too: the seed's topology is written once.

# The repository ArgoCD syncs; deploy/argocd/ names the same URL.
git_repo_url = "https://github.com/gallery-pipeline/gallery-pipeline.git"
