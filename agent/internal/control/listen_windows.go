package control

import (
	"context"
	"net"

	"github.com/Microsoft/go-winio"
)

// sddl admits SYSTEM and built-in Administrators only, and no one else.
const sddl = "D:P(A;;GA;;;SY)(A;;GA;;;BA)"

func listen(addr string) (net.Listener, error) {
	return winio.ListenPipe(addr, &winio.PipeConfig{SecurityDescriptor: sddl})
}

func dial(ctx context.Context, addr string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, addr)
}

func cleanup(string) {}
