// Noticing that an HTTP client went away while its request is generating.
// cpp-httplib (0.11) gives a handler no access to its connection, so the socket
// is found by its addresses: the one open socket whose local and peer
// address/port are the request's (they are unique while the handler runs, as
// the handler's thread owns that connection). Linux-specific (POLLRDHUP).
#pragma once

#include <string>

namespace septet::serve {

class PeerWatch {
 public:
  // Finds the connection; a watch that found none reports the peer as present.
  PeerWatch(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port);
  // True once the client closed or reset its side of the connection.
  bool Gone() const;
  bool found() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace septet::serve
