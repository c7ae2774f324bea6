variable "nodes" {
  description = <<-EOT
    The machines to deploy, keyed by the MAAS hostname. `role` is `controller` or `worker`;
    every other field narrows the allocation: by default a machine is allocated by its
    hostname, `pool`/`zone`/`tags` add constraints (or replace the hostname when
    `allocate_by_hostname = false`, for "any machine in this pool with these tags").
    `interface`/`subnet_cidr`/`ip_address` pin a static address on one NIC before deployment.
  EOT
  type = map(object({
    role                 = string
    allocate_by_hostname = optional(bool, true)
    pool                 = optional(string)
    zone                 = optional(string)
    tags                 = optional(set(string), [])
    min_cpu_count        = optional(number)
    min_memory_mb        = optional(number)
    interface            = optional(string)
    subnet_cidr          = optional(string)
    ip_address           = optional(string)
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
    condition     = alltrue([for node in values(var.nodes) : node.ip_address == null || (node.subnet_cidr != null && node.interface != null)])
    error_message = "A static ip_address needs both interface and subnet_cidr."
  }
}

variable "default_pool" {
  description = "MAAS resource pool used for nodes that do not set their own `pool` (null: any pool)."
  type        = string
  default     = null
}

variable "default_zone" {
  description = "MAAS availability zone used for nodes that do not set their own `zone` (null: any zone)."
  type        = string
  default     = null
}

variable "role_tags" {
  description = "MAAS tags every node of a role must carry in addition to its own, e.g. { worker = [\"nvme\"] }."
  type        = map(set(string))
  default     = {}
}

variable "distro_series" {
  description = "Ubuntu series MAAS deploys (k0s supports any systemd distribution; noble is 24.04 LTS)."
  type        = string
  default     = "noble"
}

variable "hwe_kernel" {
  description = "Hardware-enablement kernel to deploy, e.g. \"hwe-24.04\" (null: the series' GA kernel)."
  type        = string
  default     = null
}

variable "ssh_user" {
  description = "Login user created by cloud-init; k0sctl connects as this user and uses sudo."
  type        = string
  default     = "ubuntu"
}

variable "ssh_authorized_keys" {
  description = "Public SSH keys (not private keys) installed for `ssh_user`; k0sctl's key must be among them."
  type        = list(string)

  validation {
    condition     = length(var.ssh_authorized_keys) > 0 && alltrue([for key in var.ssh_authorized_keys : can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh.com) ", key))])
    error_message = "Give at least one OpenSSH public key (ssh-ed25519, ssh-rsa, ecdsa-...)."
  }
}

variable "host_packages" {
  description = "Packages cloud-init installs on every node: what the storage provisioner and MetalLB need on the host (iSCSI and NFS clients for CSI volumes, ipvsadm for kube-proxy's IPVS mode)."
  type        = list(string)
  default     = ["open-iscsi", "nfs-common", "ipvsadm", "chrony"]
}

variable "storage_host_path" {
  description = "Directory created on every worker for node-local persistent volumes (must match the storage provisioner's base path in deploy/)."
  type        = string
  default     = "/var/openebs/local"
}

variable "release_erase" {
  description = "Quick-erase the disks when a machine is released (tofu destroy or a node removed)."
  type        = bool
  default     = true
}

variable "deploy_timeout" {
  description = "How long to wait for MAAS to deploy one machine (bare metal with slow POST can take long)."
  type        = string
  default     = "45m"
}
