package health

import "os"

// rootPath is the system drive, whose usage the report carries.
func rootPath() string {
	if d := os.Getenv("SystemDrive"); d != "" {
		return d + `\`
	}
	return `C:\`
}
