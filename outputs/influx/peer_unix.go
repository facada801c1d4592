//go:build unix

package influx

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed reports whether the other end has closed or reset c, with
// one non-blocking read (a read deadline in the past would not even try).
// A socket_listener never sends, so any data read is discarded.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	err = raw.Read(func(fd uintptr) bool {
		var buf [1]byte
		n, err := syscall.Read(int(fd), buf[:])
		switch {
		case n == 0 && err == nil: // EOF
			closed = true
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		case err != nil:
			closed = true
		}
		return true // never wait for data
	})
	return closed || err != nil
}
