//! `/login` and `/signup`: plain forms (they work without JavaScript) that go back to where
//! the visitor came from (`?next=`).

use crate::{error::AppError, identity::ViewerContext, server_fns::local_path};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

fn next_path() -> String {
    let query = use_query_map();
    let next = query.read_untracked().get("next");
    local_path(next.as_deref()).to_owned()
}

/// The action's error about `field`, if any.
fn field_error(
    error: impl Fn() -> Option<AppError> + Copy + 'static,
    field: &'static str,
) -> impl Fn() -> Option<String> + Copy {
    move || {
        error()
            .filter(|e| e.field() == Some(field))
            .map(|e| e.to_string())
    }
}

/// The action's error that is about no field in particular.
fn form_error(
    error: impl Fn() -> Option<AppError> + Copy + 'static,
) -> impl Fn() -> Option<String> + Copy {
    move || {
        error()
            .filter(|e| e.field().is_none())
            .map(|e| e.to_string())
    }
}

/// Logging in.
#[component]
pub fn LoginPage() -> impl IntoView {
    let context = expect_context::<ViewerContext>();
    let value = context.log_in.value();
    let value = move || value.get().and_then(Result::err);
    let next = next_path();
    let signup_link = format!("/signup?next={}", crate::identity::encode_component(&next));
    view! {
        <Title text="Log in — Parlor"/>
        <section class="account-page">
            <h1>"Log in"</h1>
            <ActionForm action=context.log_in attr:class="account-form" attr:novalidate=true>
                <input type="hidden" name="next" value=next.clone()/>
                <div class="field">
                    <label for="login-username">"Username"</label>
                    <input id="login-username" name="username" autocomplete="username"/>
                </div>
                <div class="field">
                    <label for="login-password">"Password"</label>
                    <input id="login-password" name="password" type="password"
                        autocomplete="current-password"/>
                </div>
                <button type="submit">"Log in"</button>
                <p class="form-error" role="alert">{form_error(value)}</p>
            </ActionForm>
            <p>"No account yet? " <a href=signup_link>"Sign up"</a></p>
        </section>
    }
}

/// Creating an account.
#[component]
pub fn SignupPage() -> impl IntoView {
    let context = expect_context::<ViewerContext>();
    let value = context.sign_up.value();
    let value = move || value.get().and_then(Result::err);
    let next = next_path();
    let login_link = format!("/login?next={}", crate::identity::encode_component(&next));
    view! {
        <Title text="Sign up — Parlor"/>
        <section class="account-page">
            <h1>"Sign up"</h1>
            <ActionForm action=context.sign_up attr:class="account-form" attr:novalidate=true>
                <input type="hidden" name="next" value=next.clone()/>
                <div class="field">
                    <label for="signup-username">"Username"</label>
                    <input id="signup-username" name="username" autocomplete="username"
                        aria-describedby="signup-username-help signup-username-error"/>
                    <small id="signup-username-help">
                        "3–32 letters (any alphabet), digits, _ . or -"
                    </small>
                    <span id="signup-username-error" class="field-error" role="alert">
                        {field_error(value, "username")}
                    </span>
                </div>
                <div class="field">
                    <label for="signup-password">"Password"</label>
                    <input id="signup-password" name="password" type="password"
                        autocomplete="new-password"
                        aria-describedby="signup-password-help signup-password-error"/>
                    <small id="signup-password-help">"At least 8 characters."</small>
                    <span id="signup-password-error" class="field-error" role="alert">
                        {field_error(value, "password")}
                    </span>
                </div>
                <button type="submit">"Create account"</button>
                <p class="form-error" role="alert">{form_error(value)}</p>
            </ActionForm>
            <p>"Already have an account? " <a href=login_link>"Log in"</a></p>
        </section>
    }
}
