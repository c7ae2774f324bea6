output "nodes" {
  description = "Deployed machines: role, address, FQDN."
  value       = module.nodes.nodes
}

output "kubeconfig_path" {
  description = "Admin kubeconfig of the cluster (export KUBECONFIG=...)."
  value       = module.cluster.kubeconfig_path
}

output "api_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.cluster.api_endpoint
}

output "argocd_namespace" {
  description = "Namespace ArgoCD runs in."
  value       = module.bootstrap.argocd_namespace
}

output "metallb_addresses" {
  description = "Address range handed to MetalLB."
  value       = "${var.metallb_range.start}-${var.metallb_range.end}"
}
