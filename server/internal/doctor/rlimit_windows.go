package doctor

import "github.com/wirefleet/wirefleet/pkg/wire"

func checkDescriptors(wire.ServerInfo, error) Check {
	return Check{Name: "descriptors", Status: OK, Detail: "no per-process descriptor limit to check on Windows"}
}
