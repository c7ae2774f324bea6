output "argocd_namespace" {
  description = "Namespace ArgoCD runs in."
  value       = helm_release.argocd.namespace
}

output "argocd_chart_version" {
  description = "The argo-cd chart version installed."
  value       = helm_release.argocd.version
}

output "root_application" {
  description = "The root Application spec handed to ArgoCD (repository, path, MetalLB patch)."
  value       = local.root_application
}
