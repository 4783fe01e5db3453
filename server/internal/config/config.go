// Package config fills a command's flags from, in order of precedence, the
// command line, WIREFLEET_* environment variables, and an optional YAML file
// whose keys are the flag names ("listen: :8443", "data-dir: /var/lib/wirefleet").
package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// EnvName returns the environment variable for a flag: data-dir →
// WIREFLEET_DATA_DIR.
func EnvName(flag string) string {
	return "WIREFLEET_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets every flag in fs that was not given on the command line from
// the environment, then from the YAML file at path (skipped when path is
// empty). Unknown keys in the file are an error, so typos do not pass
// silently.
func Apply(fs *pflag.FlagSet, path string) error {
	file := map[string]any{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("config: parse %s: %w", path, err)
		}
		for k := range file {
			if fs.Lookup(k) == nil {
				return fmt.Errorf("config: %s: unknown setting %q", path, k)
			}
		}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("config: %s=%q: %w", EnvName(f.Name), v, e)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			s := fmt.Sprint(v)
			if list, isList := v.([]any); isList {
				parts := make([]string, len(list))
				for i, p := range list {
					parts[i] = fmt.Sprint(p)
				}
				s = strings.Join(parts, ",")
			}
			if e := fs.Set(f.Name, s); e != nil {
				err = fmt.Errorf("config: %s: %s: %w", path, f.Name, e)
			}
		}
	})
	return err
}
