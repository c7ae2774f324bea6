variable "argocd_namespace" {
  description = "Namespace ArgoCD is installed into (the root Application lives there too)."
  type        = string
  default     = "argocd"
}

variable "argocd_chart_version" {
  description = "Pinned version of the argo-cd Helm chart (https://argoproj.github.io/argo-helm)."
  type        = string
  default     = "8.0.6"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.argocd_chart_version))
    error_message = "Pin an exact chart version (x.y.z)."
  }
}

variable "argocd_apps_chart_version" {
  description = "Pinned version of the argocd-apps Helm chart that creates the root Application."
  type        = string
  default     = "2.0.2"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.argocd_apps_chart_version))
    error_message = "Pin an exact chart version (x.y.z)."
  }
}

variable "argocd_domain" {
  description = "Host name the ArgoCD UI is served under (global.domain of the chart)."
  type        = string
  default     = "argocd.gallery.internal"
}

variable "git_repo_url" {
  description = "Git repository ArgoCD syncs from (this repository)."
  type        = string
}

variable "git_revision" {
  description = "Branch, tag or commit the root Application tracks."
  type        = string
  default     = "main"
}

variable "git_username" {
  description = "User for a private Git repository (null: public repository, no credentials)."
  type        = string
  default     = null
}

variable "git_password" {
  description = "Token or password for a private Git repository; pass it as TF_VAR_git_password, never in a file."
  type        = string
  default     = null
  sensitive   = true
}

variable "root_app_path" {
  description = "Path in the repository the root Application points at (the app-of-apps / ApplicationSet)."
  type        = string
  default     = "deploy/argocd"
}

variable "metallb_addresses" {
  description = "MetalLB address range(s) for LoadBalancer services (CIDRs or first-last ranges), patched into the IPAddressPool of the overlay."
  type        = list(string)

  validation {
    condition     = length(var.metallb_addresses) > 0 && alltrue([for range in var.metallb_addresses : can(cidrhost(range, 0)) || can(regex("^[0-9.]+-[0-9.]+$", range))])
    error_message = "Each entry must be a CIDR (10.0.0.240/28) or a range (10.0.0.240-10.0.0.250)."
  }
}

variable "metallb_pool_name" {
  description = "Name of the MetalLB IPAddressPool in deploy/kustomize/components/metallb."
  type        = string
  default     = "gallery-pool"
}

variable "metallb_namespace" {
  description = "Namespace of the IPAddressPool."
  type        = string
  default     = "metallb-system"
}

variable "metallb_app" {
  description = "The ArgoCD object under root_app_path that deploys the MetalLB IPAddressPool (deploy/argocd/platform/metallb-config.yaml): kind Application or ApplicationSet, and its name. The root Application patches the MetalLB range into its Kustomize source."
  type = object({
    kind = string
    name = string
  })
  default = {
    kind = "Application"
    name = "metallb-config"
  }

  validation {
    condition     = contains(["Application", "ApplicationSet"], var.metallb_app.kind)
    error_message = "metallb_app.kind must be Application or ApplicationSet."
  }
}

variable "helm_timeout_seconds" {
  description = "How long Helm waits for ArgoCD to become ready."
  type        = number
  default     = 600
}
