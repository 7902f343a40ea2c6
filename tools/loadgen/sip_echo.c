/* parkd-sip-echo: the cheapest UDP SIP responder we can write, to measure what the load generator itself
 * costs. Not a SIP server: it turns each request into a response by rewriting the start line and keeping the
 * request's headers (Via, From, To, Call-ID, CSeq all match), in batches of 64 with recvmmsg/sendmmsg.
 *   REGISTER without Authorization -> 401 with a WWW-Authenticate (MD5, qop=auth; the digest is not checked)
 *   anything else                  -> 200 OK
 * Usage: parkd-sip-echo [ADDR [PORT]]   (default 127.0.0.1 5060); pin it with taskset, stop it with a signal.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { batch = 64, size_max = 4096 };

static const char challenge[] =
    "WWW-Authenticate: Digest realm=\"echo\", nonce=\"0123456789abcdef\", qop=\"auth\", algorithm=MD5\r\n";

/* Writes the response to `in` into `out`; returns its size, or 0 to send nothing. */
static size_t respond(const char* in, size_t n, char* out) {
  const char* line_end = memmem(in, n, "\r\n", 2);
  const char* headers_end = memmem(in, n, "\r\n\r\n", 4);
  if (line_end == NULL || headers_end == NULL || n < 4 || memcmp(in, "SIP/", 4) == 0) return 0;
  if (n > 3 && memcmp(in, "ACK ", 4) == 0) return 0;
  int reg = n > 9 && memcmp(in, "REGISTER ", 9) == 0;
  int authorized = memmem(in, (size_t)(headers_end - in), "\r\nAuthorization:", 16) != NULL;
  const char* status = reg && !authorized ? "SIP/2.0 401 Unauthorized" : "SIP/2.0 200 OK";
  size_t status_size = strlen(status);
  size_t headers_size = (size_t)(headers_end - line_end); /* "\r\n...last header" */
  if (status_size + headers_size + sizeof challenge + 4 > size_max) return 0;
  char* p = out;
  memcpy(p, status, status_size);
  p += status_size;
  memcpy(p, line_end, headers_size);
  p += headers_size;
  memcpy(p, "\r\n", 2);
  p += 2;
  if (reg && !authorized) {
    memcpy(p, challenge, sizeof challenge - 1);
    p += sizeof challenge - 1;
  }
  memcpy(p, "\r\n", 2); /* bodies are dropped; Content-Length of the requests we answer is 0 */
  p += 2;
  return (size_t)(p - out);
}

int main(int argc, char** argv) {
  const char* host = argc > 1 ? argv[1] : "127.0.0.1";
  int port = argc > 2 ? atoi(argv[2]) : 5060;
  struct sockaddr_storage addr;
  socklen_t addr_size;
  memset(&addr, 0, sizeof addr);
  struct sockaddr_in* v4 = (struct sockaddr_in*)&addr;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)&addr;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((unsigned short)port);
    addr_size = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((unsigned short)port);
    addr_size = sizeof *v6;
  } else {
    fprintf(stderr, "parkd-sip-echo: bad address %s\n", host);
    return 2;
  }
  int fd = socket(addr.ss_family, SOCK_DGRAM, 0);
  int size = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (fd < 0 || bind(fd, (struct sockaddr*)&addr, addr_size) != 0) {
    perror("parkd-sip-echo: bind");
    return 1;
  }
  printf("parkd-sip-echo: listening on %s port %d\n", host, port);
  fflush(stdout);

  static char in[batch][size_max], out[batch][size_max];
  static struct sockaddr_storage from[batch];
  static struct iovec in_iov[batch], out_iov[batch];
  static struct mmsghdr in_msg[batch], out_msg[batch];
  for (;;) {
    for (int i = 0; i < batch; ++i) {
      in_iov[i].iov_base = in[i];
      in_iov[i].iov_len = size_max;
      memset(&in_msg[i].msg_hdr, 0, sizeof in_msg[i].msg_hdr);
      in_msg[i].msg_hdr.msg_iov = &in_iov[i];
      in_msg[i].msg_hdr.msg_iovlen = 1;
      in_msg[i].msg_hdr.msg_name = &from[i];
      in_msg[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(fd, in_msg, batch, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    int m = 0;
    for (int i = 0; i < n; ++i) {
      size_t len = respond(in[i], in_msg[i].msg_len, out[m]);
      if (len == 0) continue;
      out_iov[m].iov_base = out[m];
      out_iov[m].iov_len = len;
      memset(&out_msg[m].msg_hdr, 0, sizeof out_msg[m].msg_hdr);
      out_msg[m].msg_hdr.msg_iov = &out_iov[m];
      out_msg[m].msg_hdr.msg_iovlen = 1;
      out_msg[m].msg_hdr.msg_name = &from[i];
      out_msg[m].msg_hdr.msg_namelen = in_msg[i].msg_hdr.msg_namelen;
      ++m;
    }
    for (int sent = 0; sent < m;) {
      int k = sendmmsg(fd, out_msg + sent, (unsigned)(m - sent), 0);
      if (k <= 0) break;
      sent += k;
    }
  }
}
