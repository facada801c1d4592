package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mailmon/mailmon/sdk/host"
)

// PluginPrefix starts every check plugin's file name.
const PluginPrefix = "mailmon-check-"

// Found is a plugin binary found in the plugin folders.
type Found struct {
	Name string // check name: the file name without PluginPrefix
	Path string
	// Err is why the binary may not be used (writable by others, not
	// executable); it is reported, never started.
	Err error
}

// Discover lists mailmon-check-* executables in dirs. Like $PATH, the first
// folder that has a name wins. Missing folders are skipped: the defaults
// name folders that exist only on installed systems.
func Discover(dirs []string) []Found {
	byName := map[string]Found{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), PluginPrefix)
			if !ok || name == "" || e.IsDir() {
				continue
			}
			if _, seen := byName[name]; seen {
				continue
			}
			path := filepath.Join(dir, e.Name())
			byName[name] = Found{Name: name, Path: path, Err: host.CheckFile(path)}
		}
	}
	out := make([]Found, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// notFound explains a check type with no plugin binary.
func notFound(name string, dirs []string, found []Found) error {
	var names []string
	for _, f := range found {
		names = append(names, f.Name)
	}
	avail := "none"
	if len(names) > 0 {
		avail = strings.Join(names, ", ")
	}
	return fmt.Errorf("no plugin %s%s in plugin_dirs [%s] (found: %s)", PluginPrefix, name, strings.Join(dirs, " "), avail)
}
