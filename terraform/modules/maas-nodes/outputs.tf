output "nodes" {
  description = "Deployed machines keyed by hostname: role, the address k0sctl connects to (the static IP if one was pinned, otherwise MAAS's first address), every address, FQDN, zone and pool."
  value = {
    for name, instance in maas_instance.node : name => {
      role         = local.nodes[name].role
      hostname     = instance.hostname
      fqdn         = instance.fqdn
      address      = local.addresses[name]
      ip_addresses = sort(tolist(instance.ip_addresses))
      zone         = instance.zone
      pool         = instance.pool
    }
  }
}

output "addresses" {
  description = "Hostname => address k0sctl connects to."
  value       = local.addresses
}

output "fqdns" {
  description = "Hostname => FQDN in MAAS DNS."
  value       = { for name, instance in maas_instance.node : name => instance.fqdn }
}

output "ssh_user" {
  description = "The login user cloud-init created (k0sctl's SSH user)."
  value       = var.ssh_user
}
