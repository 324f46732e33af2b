// The test clients' name for client::ForwardingClient
// (api/client/forwarding_client.h).
#ifndef ZEN_LEAD_API_CLIENT_TESTING_FORWARDING_CLIENT_H_
#define ZEN_LEAD_API_CLIENT_TESTING_FORWARDING_CLIENT_H_

#include "api/client/forwarding_client.h"

namespace zenlead::client::testing {

using client::ForwardingClient;

}  // namespace zenlead::client::testing

#endif  // ZEN_LEAD_API_CLIENT_TESTING_FORWARDING_CLIENT_H_
