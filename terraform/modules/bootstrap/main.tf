locals {
  # How MetalLB's range reaches the pool: the root Application renders deploy/argocd with
  # Kustomize and patches the Application that deploys the pool (metallb-config), so that
  # *its* Kustomize source carries a JSON patch replacing spec.addresses of the
  # IPAddressPool. The range lives in OpenTofu variables only; Git keeps a placeholder.
  ip_pool_patch = {
    target = {
      group     = "metallb.io"
      version   = "v1beta1"
      kind      = "IPAddressPool"
      name      = var.metallb_pool_name
      namespace = var.metallb_namespace
    }
    patch = yamlencode([{
      op    = "replace"
      path  = "/spec/addresses"
      value = var.metallb_addresses
    }])
  }

  pool_source_patch = {
    source = {
      kustomize = {
        patches = [local.ip_pool_patch]
      }
    }
  }

  metallb_app_patch = {
    apiVersion = "argoproj.io/v1alpha1"
    kind       = var.metallb_app.kind
    metadata = {
      name = var.metallb_app.name
    }
    spec = var.metallb_app.kind == "Application" ? local.pool_source_patch : { template = { spec = local.pool_source_patch } }
  }

  root_application = {
    namespace  = var.argocd_namespace
    project    = "default"
    finalizers = ["resources-finalizer.argocd.argoproj.io"]
    source = {
      repoURL        = var.git_repo_url
      targetRevision = var.git_revision
      path           = var.root_app_path
      kustomize = {
        patches = [{
          target = {
            group = "argoproj.io"
            kind  = var.metallb_app.kind
            name  = var.metallb_app.name
          }
          patch = yamlencode(local.metallb_app_patch)
        }]
      }
    }
    destination = {
      server    = "https://kubernetes.default.svc"
      namespace = var.argocd_namespace
    }
    syncPolicy = {
      automated = {
        prune    = true
        selfHeal = true
      }
      syncOptions = ["CreateNamespace=true", "ServerSideApply=true"]
      retry = {
        limit = 5
        backoff = {
          duration    = "10s"
          factor      = 2
          maxDuration = "3m"
        }
      }
    }
  }

  private_repo = var.git_username != null && var.git_password != null
}

resource "helm_release" "argocd" {
  name             = "argocd"
  namespace        = var.argocd_namespace
  create_namespace = true
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-cd"
  version          = var.argocd_chart_version
  wait             = true
  timeout          = var.helm_timeout_seconds
  atomic           = true

  values = [yamlencode({
    # No SSO provider is configured yet: log in as admin with the initial secret
    # (docs/infrastructure.md), so Dex would only be an idle pod.
    dex = {
      enabled = false
    }
  })]

  set = [
    {
      name  = "global.domain"
      value = var.argocd_domain
    },
  ]

  set_sensitive = local.private_repo ? [
    {
      name  = "configs.repositories.gallery.url"
      value = var.git_repo_url
    },
    {
      name  = "configs.repositories.gallery.username"
      value = var.git_username
    },
    {
      name  = "configs.repositories.gallery.password"
      value = var.git_password
    },
  ] : []
}

# The root Application is created by the argocd-apps chart rather than a kubernetes_manifest
# resource: kubernetes_manifest needs the Application CRD at plan time, before ArgoCD exists.
resource "helm_release" "root_app" {
  name       = "gallery-root"
  namespace  = var.argocd_namespace
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = var.argocd_apps_chart_version
  wait       = true
  timeout    = var.helm_timeout_seconds

  values = [yamlencode({
    applications = {
      gallery-root = local.root_application
    }
  })]

  depends_on = [helm_release.argocd]
}
