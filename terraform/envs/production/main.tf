module "nodes" {
  source = "../../modules/maas-nodes"

  nodes               = var.nodes
  default_pool        = var.maas_pool
  default_zone        = var.maas_zone
  distro_series       = var.distro_series
  ssh_authorized_keys = var.ssh_authorized_keys
}

module "cluster" {
  source = "../../modules/k0s-cluster"

  cluster_name    = "gallery-production"
  nodes           = module.nodes.nodes
  ssh_user        = module.nodes.ssh_user
  ssh_key_path    = var.ssh_private_key_path
  k0s_version     = var.k0s_version
  kubeconfig_path = var.kubeconfig_path
}

module "bootstrap" {
  source = "../../modules/bootstrap"

  git_repo_url      = var.git_repo_url
  git_revision      = var.git_revision
  git_username      = var.git_username
  git_password      = var.git_password
  argocd_domain     = var.argocd_domain
  metallb_addresses = ["${var.metallb_range.start}-${var.metallb_range.end}"]
  metallb_app = {
    kind = "Application"
    name = "metallb-config"
  }

  depends_on = [module.cluster]
}

# MAAS must never lease MetalLB's addresses to a machine: reserve the range on the subnet.
data "maas_subnet" "cluster" {
  cidr = var.cluster_subnet_cidr
}

resource "maas_subnet_ip_range" "metallb" {
  subnet   = data.maas_subnet.cluster.id
  type     = "reserved"
  start_ip = var.metallb_range.start
  end_ip   = var.metallb_range.end
  comment  = "MetalLB LoadBalancer addresses (gallery-production)"
}
