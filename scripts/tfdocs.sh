#!/bin/sh
# tfdocs.sh: regenerates docs/terraform-provider/ — the provider's schema
# documentation — with HashiCorp's tfplugindocs, from the schema the real
# terraform reads from bin/terraform-provider-wirefleet (make build first).
# Needs terraform on PATH; tfplugindocs comes from the Go module proxy.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/plugins" "$work/cfg"
cp "$root/bin/terraform-provider-wirefleet" "$work/plugins/"
cat > "$work/rc" <<RC
provider_installation {
  dev_overrides {
    "wirefleet/wirefleet" = "$work/plugins"
  }
  direct {}
}
RC
printf 'terraform {\n  required_providers {\n    wirefleet = { source = "wirefleet/wirefleet" }\n  }\n}\n' > "$work/cfg/main.tf"
(cd "$work/cfg" && TF_CLI_CONFIG_FILE="$work/rc" CHECKPOINT_DISABLE=1 terraform providers schema -json) |
	# tfplugindocs looks the provider up under HashiCorp's namespace.
	sed 's#registry.terraform.io/wirefleet/wirefleet#registry.terraform.io/hashicorp/wirefleet#' > "$work/schema.json"
rm -rf "$root/docs/terraform-provider"
cd "$root" && go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs@v0.25.0 generate \
	--provider-dir server/terraform-provider-wirefleet --provider-name wirefleet \
	--providers-schema "$work/schema.json" --rendered-website-dir ../../docs/terraform-provider
