// Package oneliner renders the ready-to-paste enrollment commands for a
// token, carrying the server URL and, for a self-signed certificate, its
// SPKI pin. The CLI, the first-start banner and the web page all show these.
package oneliner

import "strings"

// Line is one labelled command.
type Line struct {
	Label   string
	Command string
}

// For returns the commands for enrolling with token.
//
// With a pin, curl checks the same key (--pinnedpubkey is enforced even
// with -k), PowerShell gets -Pin, and the agent pins it at enrollment.
func For(serverURL, pin, token string) []Line {
	curl := "curl -fsSL"
	pinArg, psPin, msiPin := "", "", ""
	if pin != "" {
		curl += " -k --pinnedpubkey 'sha256//" + strings.TrimPrefix(pin, "sha256/") + "'"
		pinArg = " --pin " + pin
		psPin = " -Pin " + pin
		msiPin = " PIN=" + pin
	}
	return []Line{
		{"Linux / macOS", curl + " " + serverURL + "/install.sh | sudo sh -s -- --server " + serverURL + " --token " + token + pinArg},
		{"Windows (PowerShell, as Administrator)", "& ([scriptblock]::Create((irm " + serverURL + "/install.ps1))) -Server " + serverURL + " -Token " + token + psPin},
		{"Windows (MSI)", "msiexec /i wirefleet-agent.msi SERVER=" + serverURL + " TOKEN=" + token + msiPin + " /qn"},
		{"Agent binary", "wirefleet-agent enroll --server " + serverURL + " --token " + token + pinArg},
	}
}
