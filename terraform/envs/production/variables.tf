# Secrets (maas_api_key, git_password) have no default and are sensitive: pass them as
# TF_VAR_maas_api_key / TF_VAR_git_password. Site values that are not secret live in
# terraform.tfvars (the node inventory) or a local, Git-ignored *.auto.tfvars.

variable "maas_api_url" {
  description = "MAAS API URL, e.g. http://maas.example.internal:5240/MAAS."
  type        = string
}

variable "maas_api_key" {
  description = "MAAS API key (consumer:token:secret) of the user OpenTofu acts as; set TF_VAR_maas_api_key."
  type        = string
  sensitive   = true
}

variable "maas_tls_ca_cert_path" {
  description = "CA bundle that signs the MAAS API certificate (null: system trust store)."
  type        = string
  default     = null
}

variable "nodes" {
  description = "Node inventory keyed by MAAS hostname: role (controller or worker) plus optional pool, zone, tags and a static address (interface, subnet_cidr, ip_address). Add a worker by adding a line."
  type = map(object({
    role        = string
    pool        = optional(string)
    zone        = optional(string)
    tags        = optional(set(string), [])
    interface   = optional(string)
    subnet_cidr = optional(string)
    ip_address  = optional(string)
  }))
}

variable "maas_pool" {
  description = "MAAS resource pool the cluster's machines belong to (null: any pool)."
  type        = string
  default     = null
}

variable "maas_zone" {
  description = "MAAS availability zone of the cluster's machines (null: any zone)."
  type        = string
  default     = null
}

variable "distro_series" {
  description = "Ubuntu series MAAS deploys on every node."
  type        = string
  default     = "noble"
}

variable "ssh_authorized_keys" {
  description = "Public SSH keys allowed to log in to the nodes; must include the key k0sctl uses."
  type        = list(string)
}

variable "ssh_private_key_path" {
  description = "Path (not content) of the private key k0sctl uses; null: the SSH agent."
  type        = string
  default     = null
}

variable "k0s_version" {
  description = "Pinned k0s release for the cluster."
  type        = string
  default     = "v1.33.2+k0s.0"
}

variable "kubeconfig_path" {
  description = "Where the admin kubeconfig is written (outside the repository)."
  type        = string
  default     = "~/.kube/gallery-production.yaml"
}

variable "cluster_subnet_cidr" {
  description = "CIDR of the MAAS subnet the nodes and the MetalLB range live on."
  type        = string
}

variable "metallb_range" {
  description = "First and last address MetalLB hands to LoadBalancer services; reserved in MAAS so its DHCP never leases them, and patched into the overlay's IPAddressPool."
  type = object({
    start = string
    end   = string
  })
}

variable "git_repo_url" {
  description = "Repository ArgoCD syncs (this repository's clone URL)."
  type        = string
}

variable "git_revision" {
  description = "Branch, tag or commit the root Application tracks."
  type        = string
  default     = "main"
}

variable "git_username" {
  description = "User for a private repository (null: public repository)."
  type        = string
  default     = null
}

variable "git_password" {
  description = "Token for a private repository; set TF_VAR_git_password, never in a file."
  type        = string
  default     = null
  sensitive   = true
}

variable "argocd_domain" {
  description = "Host name of the ArgoCD UI."
  type        = string
  default     = "argocd.gallery.internal"
}
