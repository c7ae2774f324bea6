locals {
  controllers = { for name, node in var.nodes : name => node if node.role == "controller" }
  workers     = { for name, node in var.nodes : name => node if node.role == "worker" }

  ssh = merge(
    { user = var.ssh_user, port = var.ssh_port },
    var.ssh_key_path == null ? {} : { keyPath = var.ssh_key_path },
  )

  worker_label_flag = join(",", [for key in sort(keys(var.worker_labels)) : "${key}=${var.worker_labels[key]}"])

  # Controllers first, then workers, each sorted by name: the rendered file (and its hash,
  # the re-apply trigger) does not change when the map is rebuilt in another order.
  hosts = concat(
    [for name in sort(keys(local.controllers)) : {
      role     = "controller"
      hostname = name
      ssh      = merge(local.ssh, { address = local.controllers[name].address })
    }],
    [for name in sort(keys(local.workers)) : {
      role         = "worker"
      hostname     = name
      ssh          = merge(local.ssh, { address = local.workers[name].address })
      installFlags = length(var.worker_labels) == 0 ? [] : ["--labels=${local.worker_label_flag}"]
      hooks = {
        apply = {
          before = ["mkdir -p ${var.storage_host_path}"]
        }
      }
    }],
  )

  k0sctl_config = {
    apiVersion = "k0sctl.k0sproject.io/v1beta1"
    kind       = "Cluster"
    metadata = {
      name = var.cluster_name
    }
    spec = {
      hosts = local.hosts
      k0s = {
        version       = var.k0s_version
        dynamicConfig = false
        config = {
          apiVersion = "k0s.k0sproject.io/v1beta1"
          kind       = "ClusterConfig"
          metadata = {
            name = var.cluster_name
          }
          spec = {
            api = {
              sans = distinct(concat(
                [for name in sort(keys(local.controllers)) : local.controllers[name].address],
                sort(keys(local.controllers)),
                var.api_sans,
              ))
            }
            network = {
              provider    = var.network_provider
              podCIDR     = var.pod_cidr
              serviceCIDR = var.service_cidr
              kubeProxy = {
                # MetalLB in L2 mode with kube-proxy in IPVS mode requires strict ARP,
                # otherwise every node answers ARP for the LoadBalancer addresses.
                mode = "ipvs"
                ipvs = {
                  strictARP = true
                }
              }
            }
            telemetry = {
              enabled = false
            }
          }
        }
      }
    }
  }

  config_yaml     = yamlencode(local.k0sctl_config)
  artifacts_dir   = var.artifacts_dir == null ? "${path.root}/.k0sctl" : var.artifacts_dir
  config_path     = abspath("${local.artifacts_dir}/${var.cluster_name}-k0sctl.yaml")
  kubeconfig_path = pathexpand(var.kubeconfig_path)
}

# k0sctl apply is itself declarative and idempotent; OpenTofu re-runs it only when the
# rendered configuration changes (new node, new k0s version, new network settings), so a
# plain re-run of `tofu apply` is a no-op. The kubeconfig is fetched in the same step, so it
# always matches the cluster the configuration describes.
resource "terraform_data" "k0sctl_apply" {
  triggers_replace = {
    config_sha256   = sha256(local.config_yaml)
    kubeconfig_path = local.kubeconfig_path
  }

  input = {
    config_path     = local.config_path
    kubeconfig_path = local.kubeconfig_path
  }

  provisioner "local-exec" {
    interpreter = ["/bin/bash", "-c"]
    command     = <<-EOT
      set -euo pipefail
      umask 077
      mkdir -p "$(dirname "$K0SCTL_CONFIG_PATH")" "$(dirname "$KUBECONFIG_PATH")"
      printf '%s\n' "$K0SCTL_CONFIG" > "$K0SCTL_CONFIG_PATH"
      "$K0SCTL" apply --config "$K0SCTL_CONFIG_PATH"
      "$K0SCTL" kubeconfig --config "$K0SCTL_CONFIG_PATH" > "$KUBECONFIG_PATH.tmp"
      mv "$KUBECONFIG_PATH.tmp" "$KUBECONFIG_PATH"
    EOT
    environment = {
      K0SCTL                = var.k0sctl_binary
      K0SCTL_CONFIG         = local.config_yaml
      K0SCTL_CONFIG_PATH    = local.config_path
      KUBECONFIG_PATH       = local.kubeconfig_path
      DISABLE_TELEMETRY     = "true"
      DISABLE_UPGRADE_CHECK = "true"
    }
  }
}
