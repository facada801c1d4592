package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// fromEnv turns an environment override back into its string value and
// names the variable in the key, so errors point at it.
func fromEnv(key string, v any) (string, any) {
	if e, ok := v.(envValue); ok {
		return key + " (from $" + e.name + ")", e.value
	}
	return key, v
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return "a boolean"
	case int, int64, float64, uint64:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date"
	}
	return fmt.Sprintf("%T", v)
}

func (d *decoder) str(key string, v any) (string, error) {
	key, v = fromEnv(key, v)
	s, ok := v.(string)
	if !ok {
		return "", d.errorf(key, "expected a string, got %s", describe(v))
	}
	return s, nil
}

func (d *decoder) oneOf(key string, v any, allowed ...string) (string, error) {
	s, err := d.str(key, v)
	if err != nil {
		return "", err
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	key, _ = fromEnv(key, v)
	return "", d.errorf(key, "%q is not one of %s", s, strings.Join(allowed, ", "))
}

// duration reads "30s" strings; positive demands > 0.
func (d *decoder) duration(key string, v any, positive bool) (time.Duration, error) {
	key, v = fromEnv(key, v)
	s, ok := v.(string)
	if !ok {
		return 0, d.errorf(key, "expected a duration string like \"30s\", got %s", describe(v))
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return 0, d.errorf(key, "invalid duration %q (want a number with a unit, e.g. \"30s\")", s)
	}
	if dur < 0 || (positive && dur == 0) {
		return 0, d.errorf(key, "duration %q must be positive", s)
	}
	return dur, nil
}

func (d *decoder) positiveInt(key string, v any) (int, error) {
	key, v = fromEnv(key, v)
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int:
		n = int64(x)
	case uint64:
		n = int64(x)
	case float64:
		if x != float64(int64(x)) {
			return 0, d.errorf(key, "expected a whole number, got %v", x)
		}
		n = int64(x)
	case string:
		p, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, d.errorf(key, "expected a whole number, got %s", describe(v))
		}
		n = p
	default:
		return 0, d.errorf(key, "expected a whole number, got %s", describe(v))
	}
	if n <= 0 {
		return 0, d.errorf(key, "must be greater than 0, got %d", n)
	}
	return int(n), nil
}

func (d *decoder) strList(key string, v any) ([]string, error) {
	key, v = fromEnv(key, v)
	switch x := v.(type) {
	case string: // from the environment: comma-separated
		var out []string
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, d.errorf(fmt.Sprintf("%s[%d]", key, i), "expected a string, got %s", describe(e))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, d.errorf(key, "expected a list of strings, got %s", describe(v))
}

func (d *decoder) strMap(key string, v any) (map[string]string, error) {
	key, v = fromEnv(key, v)
	t, ok := v.(map[string]any)
	if !ok {
		return nil, d.errorf(key, "expected a table of strings, got %s", describe(v))
	}
	out := make(map[string]string, len(t))
	for k, e := range t {
		s, ok := e.(string)
		if !ok {
			return nil, d.errorf(key+"."+k, "expected a string, got %s", describe(e))
		}
		out[k] = s
	}
	return out, nil
}
