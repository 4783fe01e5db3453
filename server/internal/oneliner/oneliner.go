// Package oneliner renders the ready-to-paste enrollment commands for a
// token, carrying the server URL and, for a self-signed certificate, its
// SPKI pin. The CLI, the first-start banner and the web page all show these.
package oneliner

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"net/url"
	"strings"

	"github.com/wirefleet/wirefleet/installer"
)

// Line is one labelled command.
type Line struct {
	Label   string
	Command string
}

// Server is what the commands carry besides the token.
type Server struct {
	URL string
	// Pin is the SPKI pin of a self-signed certificate ("" with a
	// certificate that clients' CAs trust).
	Pin string
	// ReleaseKey is the release root public key (minisign, base64), which
	// install.ps1 checks the MSI's signed manifest against; "" before any
	// release is published.
	ReleaseKey string
	// ScriptSHA256 is the SHA-256 (hex) of the install.ps1 the server
	// serves; "" means this binary's own copy.
	ScriptSHA256 string
}

// ScriptSHA256 returns the SHA-256 (hex) of the install.ps1 this binary
// serves.
func ScriptSHA256() string {
	b, _ := installer.Files.ReadFile("install.ps1")
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// For returns the commands for enrolling with token.
//
// With a pin, curl checks the same key (--pinnedpubkey is enforced even
// with -k), the agent pins it at enrollment, and PowerShell, which cannot
// pin the download of the script itself, fetches install.ps1 without
// certificate checks and runs it only if its SHA-256 is the one in the
// command; the script then pins every request it makes.
func For(s Server, token string) []Line {
	curl := "curl -fsSL"
	pinArg, psArgs, msiPin := "", "", ""
	if s.Pin != "" {
		curl += " -k --pinnedpubkey 'sha256//" + strings.TrimPrefix(s.Pin, "sha256/") + "'"
		pinArg = " --pin " + s.Pin
		psArgs = " -Pin " + s.Pin
		msiPin = " PIN=" + s.Pin
	}
	shArgs := pinArg
	if s.ReleaseKey != "" {
		psArgs += " -ReleaseKey " + s.ReleaseKey
		shArgs += " --release-key " + s.ReleaseKey
	}
	tls12 := "[Net.ServicePointManager]::SecurityProtocol=[Net.SecurityProtocolType]::Tls12; "
	ps := tls12 + "& ([scriptblock]::Create((irm " + s.URL + "/install.ps1))) -Server " + s.URL + " -Token " + token + psArgs
	if s.Pin != "" {
		sum := s.ScriptSHA256
		if sum == "" {
			sum = ScriptSHA256()
		}
		ps = tls12 + "[Net.ServicePointManager]::ServerCertificateValidationCallback={$true}; " +
			"$s=(New-Object Net.WebClient).DownloadString('" + s.URL + "/install.ps1'); " +
			"[Net.ServicePointManager]::ServerCertificateValidationCallback=$null; " +
			"if((Get-FileHash -Algorithm SHA256 -InputStream ([IO.MemoryStream]::new([Text.Encoding]::UTF8.GetBytes($s)))).Hash -ne '" + sum + "'){throw 'wirefleet: install.ps1 from the server does not match this command'}; " +
			"& ([scriptblock]::Create($s)) -Server " + s.URL + " -Token " + token + psArgs
	}
	return []Line{
		{"Linux / macOS", curl + " " + s.URL + "/install.sh | sudo sh -s -- --server " + s.URL + " --token " + token + shArgs},
		{"Windows (PowerShell, as Administrator)", ps},
		{"Windows (MSI)", "msiexec /i wirefleet-agent.msi SERVER=" + s.URL + " TOKEN=" + token + msiPin + " /qn"},
		{"Agent binary", "wirefleet-agent enroll --server " + s.URL + " --token " + token + pinArg},
	}
}

// Warnings are what is wrong with the URL one-liners send machines to:
// plain HTTP (the token and the machine's credential cross the network
// readable) or a loopback address (no other machine reaches it).
func Warnings(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return nil
	}
	var out []string
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() || strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		out = append(out, "These commands send machines to "+u.Host+", a loopback address: only this server itself reaches it. Start the server with --external-url set to the address other machines use (e.g. https://wf.example.org:8443).")
	}
	if u.Scheme == "http" {
		out = append(out, "This server speaks plain HTTP: the token and the machine's credential cross the network readable. Serve TLS (the default, or --acme-domain), or put a TLS proxy in front and set --external-url to its https:// address.")
	}
	return out
}
