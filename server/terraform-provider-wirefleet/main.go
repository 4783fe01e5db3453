// Command terraform-provider-wirefleet is the Terraform provider for
// Wirefleet (see docs/terraform.md). Terraform starts it; it is not run by
// hand.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/wirefleet/wirefleet/server/internal/tfprovider"
)

// Version is set at build time (-ldflags -X main.Version=…).
var Version = "dev"

func main() {
	debug := flag.Bool("debug", false, "run for a debugger (terraform connects with TF_REATTACH_PROVIDERS)")
	flag.Parse()
	if err := providerserver.Serve(context.Background(), tfprovider.New(Version), providerserver.ServeOpts{Address: tfprovider.Address, Debug: *debug}); err != nil {
		log.Fatal(err)
	}
}
