// Package oscmd runs the OS commands the agent configures a system with
// where there is no library call (ifconfig and route on macOS, netsh on
// Windows, security for the macOS keychain) behind one replaceable
// Runner, so that what each platform's code asks for — every argument,
// and that a secret travels on standard input, never on the command
// line — is tested on any OS.
package oscmd

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Cmd is one command: the program, its arguments and what it reads on
// standard input (nil: nothing).
type Cmd struct {
	Name  string
	Args  []string
	Stdin []byte
}

// String is the command line as a person would type it (without stdin).
func (c Cmd) String() string { return strings.Join(append([]string{c.Name}, c.Args...), " ") }

// Result is what a command did.
type Result struct {
	Stdout, Stderr []byte
	Exit           int
}

// Runner runs commands. The error is for a command that could not run at
// all; one that ran and failed has a non-zero Exit.
type Runner interface {
	Run(Cmd) (Result, error)
}

// System runs commands for real.
var System Runner = execRunner{}

type execRunner struct{}

func (execRunner) Run(c Cmd) (Result, error) {
	cmd := exec.Command(c.Name, c.Args...)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Exit = ee.ExitCode()
		return r, nil
	}
	return r, err
}

// RunAll runs cmds in order and stops at the first that fails, with an
// error naming it and what it printed.
func RunAll(r Runner, cmds []Cmd) error {
	for _, c := range cmds {
		res, err := r.Run(c)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		if res.Exit != 0 {
			return fmt.Errorf("%s: exit status %d: %s", c, res.Exit, strings.TrimSpace(string(res.Stderr)+" "+string(res.Stdout)))
		}
	}
	return nil
}
