variable "cluster_name" {
  description = "Name of the k0s cluster (k0sctl metadata and kubeconfig context)."
  type        = string
  default     = "gallery"
}

variable "nodes" {
  description = "Machines keyed by hostname, as the maas-nodes module outputs them: `role` (controller or worker) and the `address` k0sctl connects to over SSH."
  type = map(object({
    role    = string
    address = string
  }))

  validation {
    condition     = alltrue([for node in values(var.nodes) : contains(["controller", "worker"], node.role)])
    error_message = "Every node's role must be \"controller\" or \"worker\"."
  }

  validation {
    condition     = length([for node in values(var.nodes) : node if node.role == "controller"]) % 2 == 1
    error_message = "The number of controllers must be odd (etcd needs a quorum)."
  }

  validation {
    condition     = length([for node in values(var.nodes) : node if node.role == "worker"]) > 0
    error_message = "The cluster needs at least one worker: controllers do not run workloads."
  }
}

variable "ssh_user" {
  description = "SSH user k0sctl logs in as (passwordless sudo; created by cloud-init in maas-nodes)."
  type        = string
  default     = "ubuntu"
}

variable "ssh_port" {
  description = "SSH port on the nodes."
  type        = number
  default     = 22
}

variable "ssh_key_path" {
  description = "Path to the private key k0sctl uses (a path, never the key itself; null: use the SSH agent)."
  type        = string
  default     = null
}

variable "k0s_version" {
  description = "Pinned k0s release; changing it makes k0sctl upgrade the cluster node by node."
  type        = string
  default     = "v1.33.2+k0s.0"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+\\+k0s\\.[0-9]+$", var.k0s_version))
    error_message = "k0s_version must be an exact release such as v1.33.2+k0s.0 (no channels, no \"latest\")."
  }
}

variable "network_provider" {
  description = "k0s CNI: calico (NetworkPolicy support, which deploy/kustomize/base relies on) or kuberouter."
  type        = string
  default     = "calico"

  validation {
    condition     = contains(["calico", "kuberouter"], var.network_provider)
    error_message = "network_provider must be calico or kuberouter."
  }
}

variable "pod_cidr" {
  description = "Pod network CIDR (must not overlap the machines' network or the MetalLB range)."
  type        = string
  default     = "10.244.0.0/16"
}

variable "service_cidr" {
  description = "Service network CIDR."
  type        = string
  default     = "10.96.0.0/12"
}

variable "api_sans" {
  description = "Extra subject alternative names for the API server certificate (the controllers' addresses and hostnames are always included)."
  type        = list(string)
  default     = []
}

variable "worker_labels" {
  description = "Node labels every worker registers with; the storage label lets the storage provisioner select the nodes that have `storage_host_path`."
  type        = map(string)
  default = {
    "gallery.io/storage" = "local"
  }
}

variable "storage_host_path" {
  description = "Host directory for node-local persistent volumes; k0sctl makes sure it exists on every worker before installing k0s."
  type        = string
  default     = "/var/openebs/local"
}

variable "k0sctl_binary" {
  description = "k0sctl executable on the machine running OpenTofu."
  type        = string
  default     = "k0sctl"
}

variable "artifacts_dir" {
  description = "Directory for the rendered k0sctl.yaml (no secrets in it; null: .k0sctl next to the root module)."
  type        = string
  default     = null
}

variable "kubeconfig_path" {
  description = "Where the admin kubeconfig is written (mode 0600, outside the repository)."
  type        = string
  default     = "~/.kube/gallery.yaml"
}
