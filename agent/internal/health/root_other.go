//go:build !windows

package health

// rootPath is the root filesystem, whose usage the report carries.
func rootPath() string { return "/" }
