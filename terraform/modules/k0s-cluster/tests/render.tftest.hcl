# `tofu test` with command = plan: renders the k0sctl configuration without touching any
# machine (terraform_data's provisioner only runs on apply).

variables {
  nodes = {
    "nl-cloud-hf-22-1"  = { role = "controller", address = "10.20.0.11" }
    "nl-cloud-hf-22-w1" = { role = "worker", address = "10.20.0.21" }
    "nl-cloud-hf-22-w2" = { role = "worker", address = "10.20.0.22" }
    "nl-cloud-hf-22-w3" = { role = "worker", address = "10.20.0.23" }
  }
  ssh_key_path    = "~/.ssh/id_ed25519"
  artifacts_dir   = "/tmp/gallery-k0sctl-test"
  kubeconfig_path = "/tmp/gallery-k0sctl-test/kubeconfig"
}

run "renders_one_controller_and_three_workers" {
  command = plan

  assert {
    condition     = [for host in yamldecode(output.config_yaml).spec.hosts : "${host.role}:${host.hostname}"] == ["controller:nl-cloud-hf-22-1", "worker:nl-cloud-hf-22-w1", "worker:nl-cloud-hf-22-w2", "worker:nl-cloud-hf-22-w3"]
    error_message = "Hosts must be the controller first, then the workers, sorted by name."
  }

  assert {
    condition     = [for host in yamldecode(output.config_yaml).spec.hosts : host.ssh.address] == ["10.20.0.11", "10.20.0.21", "10.20.0.22", "10.20.0.23"]
    error_message = "k0sctl must connect to the addresses the MAAS module reports."
  }

  assert {
    condition     = alltrue([for host in yamldecode(output.config_yaml).spec.hosts : host.ssh.user == "ubuntu" && host.ssh.keyPath == "~/.ssh/id_ed25519"])
    error_message = "Every host uses the cloud-init user and the key path (never key material)."
  }

  assert {
    condition     = yamldecode(output.config_yaml).spec.k0s.version == "v1.33.2+k0s.0"
    error_message = "The k0s version must be pinned."
  }

  assert {
    condition     = yamldecode(output.config_yaml).spec.k0s.config.spec.network.provider == "calico"
    error_message = "Calico is the default network provider (NetworkPolicies)."
  }

  assert {
    condition     = yamldecode(output.config_yaml).spec.k0s.config.spec.network.kubeProxy.ipvs.strictARP
    error_message = "MetalLB L2 needs strictARP with kube-proxy in IPVS mode."
  }

  assert {
    condition     = alltrue([for host in yamldecode(output.config_yaml).spec.hosts : contains(host.hooks.apply.before, "mkdir -p /var/openebs/local") if host.role == "worker"])
    error_message = "Workers must get the local storage directory before k0s is installed."
  }

  assert {
    condition     = alltrue([for host in yamldecode(output.config_yaml).spec.hosts : contains(host.installFlags, "--labels=gallery.io/storage=local") if host.role == "worker"])
    error_message = "Workers must carry the storage label."
  }

  assert {
    condition     = contains(yamldecode(output.config_yaml).spec.k0s.config.spec.api.sans, "10.20.0.11") && contains(yamldecode(output.config_yaml).spec.k0s.config.spec.api.sans, "nl-cloud-hf-22-1")
    error_message = "The API certificate must cover the controller's address and hostname."
  }

  assert {
    condition     = output.api_endpoint == "https://10.20.0.11:6443"
    error_message = "The API endpoint is the controller's address."
  }

  assert {
    condition     = join(",", output.workers) == "nl-cloud-hf-22-w1,nl-cloud-hf-22-w2,nl-cloud-hf-22-w3" && join(",", output.controllers) == "nl-cloud-hf-22-1"
    error_message = "Role split must follow the node data."
  }
}

run "adding_a_worker_is_one_more_host" {
  command = plan

  variables {
    nodes = {
      "nl-cloud-hf-22-1"  = { role = "controller", address = "10.20.0.11" }
      "nl-cloud-hf-22-w1" = { role = "worker", address = "10.20.0.21" }
      "nl-cloud-hf-22-w2" = { role = "worker", address = "10.20.0.22" }
      "nl-cloud-hf-22-w3" = { role = "worker", address = "10.20.0.23" }
      "nl-cloud-hf-22-w4" = { role = "worker", address = "10.20.0.24" }
    }
  }

  assert {
    condition     = [for host in yamldecode(output.config_yaml).spec.hosts : host.hostname if host.role == "worker"] == ["nl-cloud-hf-22-w1", "nl-cloud-hf-22-w2", "nl-cloud-hf-22-w3", "nl-cloud-hf-22-w4"]
    error_message = "A new worker must appear in the config (which changes its hash, the k0sctl apply trigger)."
  }
}

run "rejects_an_even_number_of_controllers" {
  command = plan

  variables {
    nodes = {
      "nl-cloud-hf-22-1"  = { role = "controller", address = "10.20.0.11" }
      "nl-cloud-hf-22-2"  = { role = "controller", address = "10.20.0.12" }
      "nl-cloud-hf-22-w1" = { role = "worker", address = "10.20.0.21" }
    }
  }

  expect_failures = [var.nodes]
}

run "rejects_an_unpinned_k0s_version" {
  command = plan

  variables {
    k0s_version = "latest"
  }

  expect_failures = [var.k0s_version]
}
