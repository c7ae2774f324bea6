locals {
  # One cloud-config for every node: the role only changes what k0sctl installs later, so
  # the operating system stays identical and a worker can be re-purposed without redeploying.
  cloud_config = {
    users = [{
      name                = var.ssh_user
      groups              = ["sudo"]
      shell               = "/bin/bash"
      sudo                = "ALL=(ALL) NOPASSWD:ALL"
      lock_passwd         = true
      ssh_authorized_keys = var.ssh_authorized_keys
    }]
    ssh_pwauth      = false
    package_update  = true
    package_upgrade = false
    packages        = var.host_packages
    write_files = [{
      # MetalLB's L2 mode and the CNI need forwarding; set it before k0s starts.
      path    = "/etc/sysctl.d/90-k0s.conf"
      content = "net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n"
    }]
    runcmd = [
      ["modprobe", "br_netfilter"],
      ["sysctl", "--system"],
      ["systemctl", "enable", "--now", "iscsid"],
      ["install", "-d", "-m", "0755", var.storage_host_path],
    ]
  }
  user_data = join("\n", ["#cloud-config", yamlencode(local.cloud_config)])

  nodes = {
    for name, node in var.nodes : name => merge(node, {
      pool = try(coalesce(node.pool, var.default_pool), null)
      zone = try(coalesce(node.zone, var.default_zone), null)
      tags = setunion(node.tags, lookup(var.role_tags, node.role, []))
    })
  }
}

resource "maas_instance" "node" {
  for_each = local.nodes

  allocate_params {
    hostname      = each.value.allocate_by_hostname ? each.key : null
    pool          = each.value.pool
    zone          = each.value.zone
    tags          = length(each.value.tags) > 0 ? each.value.tags : null
    min_cpu_count = each.value.min_cpu_count
    min_memory    = each.value.min_memory_mb
  }

  deploy_params {
    distro_series = var.distro_series
    hwe_kernel    = var.hwe_kernel
    user_data     = local.user_data
  }

  dynamic "network_interfaces" {
    for_each = each.value.interface == null ? [] : [each.value]
    content {
      name        = network_interfaces.value.interface
      subnet_cidr = network_interfaces.value.subnet_cidr
      ip_address  = network_interfaces.value.ip_address
    }
  }

  release_params {
    erase       = var.release_erase
    quick_erase = var.release_erase
    comment     = "released by terraform (gallery ${each.value.role})"
  }

  timeouts {
    create = var.deploy_timeout
  }
}

locals {
  # The address k0sctl connects to: the pinned static IP, else MAAS's lowest address, else
  # the FQDN (MAAS DNS resolves it).
  addresses = {
    for name, instance in maas_instance.node :
    name => coalesce(local.nodes[name].ip_address, try(sort(tolist(instance.ip_addresses))[0], instance.fqdn))
  }
}
