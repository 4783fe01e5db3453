package main

import (
	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/server/internal/openapi"
)

// openapiCmd prints the API's OpenAPI 3.1 document (what the server
// serves at /api/v1/openapi.json), for generating clients offline.
func openapiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "openapi",
		Short: "Print the API's OpenAPI 3.1 description (also served at /api/v1/openapi.json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := openapi.JSON()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(append(b, '\n'))
			return err
		},
	}
}
