// Package mailaddr validates the server addresses and HELO names that
// several mail checks take in their config.
package mailaddr

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// heloRE accepts a domain name or an address literal ("[192.0.2.1]").
var heloRE = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$`)

// ValidHELO reports whether name may follow EHLO/HELO.
func ValidHELO(name string) bool { return heloRE.MatchString(name) }

// Split splits host:port, "[v6]:port", a bare host or a bare IPv6
// address, using defPort when the port is missing.
func Split(addr, defPort string) (host, port string, err error) {
	if strings.ContainsAny(addr, " \t\r\n/") {
		return "", "", fmt.Errorf("invalid address %q: want host:port", addr)
	}
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		switch {
		case strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]"):
			host, port = addr[1:len(addr)-1], defPort
		case !strings.Contains(addr, ":") || net.ParseIP(addr) != nil:
			host, port = addr, defPort
		default:
			return "", "", fmt.Errorf("invalid address %q: want host:port", addr)
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("invalid address %q: missing host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("invalid address %q: port must be a number from 1 to 65535", addr)
	}
	return host, port, nil
}
