package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// refRe matches ${NAME} and ${file:/path}.
var refRe = regexp.MustCompile(`\$\{([^}]*)\}`)

// resolveSecrets replaces secret references in every string value, in
// place, so passwords and tokens need not live in the config file.
func resolveSecrets(file, prefix string, v map[string]any) error {
	for k, val := range v {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		nv, err := resolveValue(file, key, val)
		if err != nil {
			return err
		}
		v[k] = nv
	}
	return nil
}

func resolveValue(file, key string, val any) (any, error) {
	switch x := val.(type) {
	case string:
		return expand(file, key, x)
	case envValue:
		s, err := expand(file, key+" (from $"+x.name+")", x.value)
		x.value = s
		return x, err
	case map[string]any:
		return x, resolveSecrets(file, key, x)
	case []any:
		for i, e := range x {
			ne, err := resolveValue(file, fmt.Sprintf("%s[%d]", key, i), e)
			if err != nil {
				return nil, err
			}
			x[i] = ne
		}
		return x, nil
	}
	return val, nil
}

func expand(file, key, s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var firstErr error
	out := refRe.ReplaceAllStringFunc(s, func(m string) string {
		ref := m[2 : len(m)-1]
		val, err := lookup(ref)
		if err != nil && firstErr == nil {
			firstErr = &Error{File: file, Key: key, Err: err}
		}
		return val
	})
	return out, firstErr
}

func lookup(ref string) (string, error) {
	if path, ok := strings.CutPrefix(ref, "file:"); ok {
		if path == "" {
			return "", fmt.Errorf("secret reference ${file:} names no file")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		// Files written by editors and `echo` end in a newline that is not
		// part of the secret.
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if ref == "" {
		return "", fmt.Errorf("empty secret reference ${}")
	}
	v, ok := os.LookupEnv(ref)
	if !ok {
		return "", fmt.Errorf("environment variable %s (referenced as ${%s}) is not set", ref, ref)
	}
	return v, nil
}
