// Package installer embeds the installers the server hands out:
// install.sh (Linux, macOS) and install.ps1 (Windows).
package installer

import "embed"

// Files holds install.sh and install.ps1.
//
//go:embed install.sh install.ps1
var Files embed.FS
