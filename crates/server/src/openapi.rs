//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and the
//! bodies' `ToSchema` derives as the router is built (see [`crate::router`]): what is routed
//! is what is documented. This module adds what applies to every operation: the keys
//! (security schemes) and the error answer.

use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, ResponseBuilder};

use crate::error::ErrorBody;

/// The security schemes' names, as handlers cite them in `security(...)` (the attribute takes
/// literals: keep them in step).
pub const WRITE_KEY: &str = "write_key";
pub const SERVER_KEY: &str = "server_key";
pub const ADMIN_KEY: &str = "admin_key";
pub const ANALYST_KEY: &str = "analyst_key";
pub const PROFILE_TOKEN: &str = "profile_token";
pub const INBOUND_SECRET: &str = "inbound_secret";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Tailor",
        description = "A self-hosted personalization engine: Segment-compatible ingest, decisions with explanations, catalog, profiles, consent, journeys and experiments. Errors are `{\"error\": {\"code\", \"message\"}}` with a fitting status.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    modifiers(&Common),
)]
pub struct ApiDoc;

/// Keys as security schemes.
struct Common;

impl Modify for Common {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what))
                    .build(),
            )
        };
        components.add_security_scheme(
            WRITE_KEY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A source's write key: HTTP Basic with the key as user name (as Segment's libraries send it), `Authorization: Bearer KEY`, or `writeKey` in a Segment body. A public (browser) key's userId claims count only with proof (`userHash` or `profileToken`); a server key's are taken as given. The admin key works too.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SERVER_KEY,
            bearer("A server source's secret key (the store's backend), or the admin key."),
        );
        components.add_security_scheme(ADMIN_KEY, bearer("The admin key: everything."));
        components.add_security_scheme(
            ANALYST_KEY,
            bearer("The analyst key (or the admin key): aggregates and reports, no personal data."),
        );
        components.add_security_scheme(
            PROFILE_TOKEN,
            bearer("A profile token (`tpt_…`) from `POST /v1/tokens`: the shopper's own data."),
        );
        components.add_security_scheme(
            INBOUND_SECRET,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The inbound secret (`TAILOR_INBOUND_SECRET`) of provider webhooks: the HTTP Basic password (any user name), `Authorization: Bearer SECRET`, or a Standard Webhooks signature made with it.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Gives every operation the error shape as its `default` answer. Runs on the finished
/// document (the paths exist only once the router is built).
pub fn add_error_answers(openapi: &mut OpenApi) {
    let error = ResponseBuilder::new()
        .description("An error: `{\"error\": {\"code\", \"message\", \"details\"?}}`")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build(),
        )
        .build();
    for item in openapi.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            op.responses
                .responses
                .entry("default".into())
                .or_insert_with(|| RefOr::T(error.clone()));
        }
    }
}
