package io.cpstream.collector;

import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.ReplicationGrpc;
import io.cpstream.security.Identity;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Collectors;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * Who may call what (invariant I6): reads the peer's identity from its TLS certificate and lets a call through only
 * to a peer of a role the method admits; the identity goes on in the call's {@link Context} ({@link #IDENTITY}) for
 * the per-VM checks (an agent streams, renews leases and sends event logs only for the VMs its certificate names). On a plaintext
 * server ({@code --insecure}) every peer is {@link Identity#UNAUTHENTICATED} and may do everything.
 */
final class PeerAuthorization implements ServerInterceptor {

    static final Context.Key<Identity> IDENTITY = Context.key("cpstream-peer");

    /** The roles each method admits; a method missing here is refused to everyone. */
    private static final Map<String, Role[]> POLICY = Map.of(
            ReplicationGrpc.getStreamMethod().getFullMethodName(), new Role[] {Role.AGENT},
            ReplicationGrpc.getLeaseMethod().getFullMethodName(), new Role[] {Role.AGENT},
            ReplicationGrpc.getEventLogMethod().getFullMethodName(), new Role[] {Role.AGENT},
            AdminGrpc.getListVmsMethod().getFullMethodName(), new Role[] {Role.READER, Role.ADMIN},
            AdminGrpc.getGetVmMethod().getFullMethodName(), new Role[] {Role.READER, Role.ADMIN},
            // What an output sink checks a primary's claimed epoch against; it learns nothing else of the VM.
            AdminGrpc.getGetFencingEpochMethod().getFullMethodName(), new Role[] {Role.SINK, Role.READER, Role.ADMIN},
            AdminGrpc.getPromoteMethod().getFullMethodName(), new Role[] {Role.ADMIN},
            AdminGrpc.getDeleteVmMethod().getFullMethodName(), new Role[] {Role.ADMIN});

    private final boolean insecure;
    private final AuditLog audit;

    PeerAuthorization(boolean insecure, AuditLog audit) {
        this.insecure = insecure;
        this.audit = audit;
    }

    /** The identity of the peer whose call is running on this thread. */
    static Identity current() {
        Identity identity = IDENTITY.get();
        return identity == null ? Identity.UNAUTHENTICATED : identity;
    }

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                        ServerCallHandler<Q, A> next) {
        String method = call.getMethodDescriptor().getFullMethodName();
        Identity identity;
        if (insecure) {
            identity = Identity.UNAUTHENTICATED;
        } else {
            SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
            try {
                if (session == null) {
                    throw new SSLPeerUnverifiedException("no TLS session");
                }
                identity = Tls.peer(session);
            } catch (SSLPeerUnverifiedException e) {
                return refuse(call, Status.UNAUTHENTICATED.withDescription("a client certificate with a cpstream "
                        + "role is required"));
            }
        }
        Role[] allowed = POLICY.get(method);
        if (allowed == null || !identity.hasRole(allowed)) {
            String needs = allowed == null ? "nobody" : Arrays.stream(allowed).map(Role::label)
                    .collect(Collectors.joining(" or "));
            String action = call.getMethodDescriptor().getBareMethodName();
            if (method.startsWith(AdminGrpc.SERVICE_NAME)) {
                audit.record(identity, action, "", "PERMISSION_DENIED");
            }
            return refuse(call, Status.PERMISSION_DENIED.withDescription(identity + " may not call " + action
                    + " (needs the " + needs + " role)"));
        }
        return Contexts.interceptCall(Context.current().withValue(IDENTITY, identity), call, headers, next);
    }

    private static <Q, A> ServerCall.Listener<Q> refuse(ServerCall<Q, A> call, Status status) {
        call.close(status, new Metadata());
        return new ServerCall.Listener<>() {
        };
    }
}
