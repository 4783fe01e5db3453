package oscmd

import (
	"strings"
	"testing"
)

// The real runner: output, exit codes, standard input; RunAll stops at
// the first failure and names it.
func TestSystemRunner(t *testing.T) {
	res, err := System.Run(Cmd{Name: "sh", Args: []string{"-c", "cat; echo err >&2; exit 3"}, Stdin: []byte("in\n")})
	if err != nil || res.Exit != 3 || string(res.Stdout) != "in\n" || string(res.Stderr) != "err\n" {
		t.Fatalf("Run = %+v %v", res, err)
	}
	if _, err := System.Run(Cmd{Name: "/nonexistent/program"}); err == nil {
		t.Fatal("a missing program ran")
	}
	err = RunAll(System, []Cmd{{Name: "true"}, {Name: "sh", Args: []string{"-c", "echo no such interface >&2; exit 1"}}, {Name: "touch", Args: []string{t.TempDir() + "/ran"}}})
	if err == nil || !strings.Contains(err.Error(), "exit status 1: no such interface") || !strings.Contains(err.Error(), "sh -c") {
		t.Fatalf("RunAll = %v", err)
	}
}
