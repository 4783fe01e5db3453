package daemon

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	got, err := applyMemoryLimit("1.5GiB", log)
	if err != nil || got != 3<<29 || debug.SetMemoryLimit(-1) != 3<<29 {
		t.Fatalf("1.5GiB: limit %d (runtime %d), %v", got, debug.SetMemoryLimit(-1), err)
	}
	if got, err := applyMemoryLimit("off", log); err != nil || got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("off: limit %d (runtime %d), %v", got, debug.SetMemoryLimit(-1), err)
	}
	for _, bad := range []string{"lots", "-1GiB", "10MiB", "1.8 GB of RAM"} {
		before := debug.SetMemoryLimit(-1)
		if _, err := applyMemoryLimit(bad, log); err == nil || !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("%q: want a --memory-limit error, got %v", bad, err)
		}
		if debug.SetMemoryLimit(-1) != before {
			t.Errorf("%q changed the limit", bad)
		}
	}
	t.Setenv("GOMEMLIMIT", "700MiB")
	debug.SetMemoryLimit(700 << 20) // what the runtime read from it at start
	if got, err := applyMemoryLimit("auto", log); err != nil || got != 700<<20 {
		t.Fatalf("auto under GOMEMLIMIT: limit %d, %v; want GOMEMLIMIT's", got, err)
	}
}

func TestDNSDomainFlag(t *testing.T) {
	for in, want := range map[string]string{"fleet.internal": "fleet.internal", "Corp.Example.": "corp.example", "off": "", "": "", " lan ": "lan"} {
		if got, err := checkDNSDomain(in); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"fleet..internal", "-x.internal", "under_score.internal", "fleet internal", "ünï.internal", strings.Repeat("a.", 100) + "internal"} {
		if _, err := checkDNSDomain(bad); err == nil || !strings.Contains(err.Error(), "--dns-domain") {
			t.Errorf("%q: want a --dns-domain error, got %v", bad, err)
		}
	}
}
