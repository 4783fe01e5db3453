//go:build !linux

package main

import "errors"

func restartServer(pid int, logPath, binary string) (int, error) {
	return 0, errors.New("-restart needs Linux (/proc)")
}
