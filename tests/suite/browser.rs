//! A real browser: headless Chromium, driven over WebDriver (Debian's `chromium-driver`), logs in on the
//! portal's page, then sees its own user in the api, logs out, and the api answers 401. Screenshots of the
//! pages go to `target/artifacts/browser/` for a person to look at (CI keeps them).

use fantoccini::Locator;
use suite::{Chromedriver, Stack, artifacts_dir};

const PASSWORD: &str = "correct horse battery 1";

async fn screenshot(browser: &fantoccini::Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let dir = artifacts_dir().join("browser");
    std::fs::create_dir_all(&dir).expect("target/artifacts/browser");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("writing a screenshot");
}

/// The JSON a page shows (Chromium renders a JSON answer as text in the body).
async fn body_json(browser: &fantoccini::Client) -> serde_json::Value {
    let text = browser
        .find(Locator::Css("body"))
        .await
        .expect("a body")
        .text()
        .await
        .expect("its text");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn fill(browser: &fantoccini::Client, name: &str, value: &str) {
    let field = browser
        .find(Locator::Css(&format!("input[name={name}]")))
        .await
        .unwrap_or_else(|e| panic!("no field {name}: {e}"));
    field.clear().await.expect("clearing a field");
    field.send_keys(value).await.expect("typing");
}

async fn submit(browser: &fantoccini::Client) {
    browser
        .find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("a submit button")
        .click()
        .await
        .expect("clicking it");
}

async fn text_of(browser: &fantoccini::Client, css: &str) -> String {
    browser
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .expect("its text")
}

#[tokio::test]
async fn chromium_logs_in_on_the_portal_and_the_api_sees_it() {
    let stack = Stack::start("browser", &[]);
    stack.create_user("jo", PASSWORD, None);
    let driver = Chromedriver::start(&stack);
    let browser = driver.browser().await;

    // The register page's errors sit under their fields.
    browser
        .goto(&stack.portal.url("/accounts/register/"))
        .await
        .expect("the register page");
    fill(&browser, "username", "jo").await;
    fill(&browser, "email", "not an address").await;
    fill(&browser, "password1", "short").await;
    fill(&browser, "password2", "other").await;
    submit(&browser).await;
    assert_eq!(
        text_of(&browser, "#err_username").await,
        "A user with that username already exists."
    );
    assert_eq!(
        text_of(&browser, "#err_email").await,
        "Enter a valid email address."
    );
    assert_eq!(
        text_of(&browser, "#err_password2").await,
        "The two password fields didn’t match."
    );
    screenshot(&browser, "register-errors").await;

    // A wrong password: the form says so, and keeps the username.
    browser
        .goto(&stack.portal.url("/accounts/login/"))
        .await
        .expect("the login page");
    screenshot(&browser, "login").await;
    fill(&browser, "username", "jo").await;
    fill(&browser, "password", "not the password").await;
    submit(&browser).await;
    assert!(
        text_of(&browser, "#form-error")
            .await
            .starts_with("Please enter a correct username and password."),
    );
    screenshot(&browser, "login-error").await;

    // The right one: the home page names the user.
    fill(&browser, "password", PASSWORD).await;
    submit(&browser).await;
    assert_eq!(text_of(&browser, "#username").await, "jo");
    screenshot(&browser, "home").await;

    // The api, in the same browser, sees the same user.
    browser
        .goto(&stack.api.url("/api/v1/me"))
        .await
        .expect("the api");
    let me = body_json(&browser).await;
    assert_eq!(me["username"], "jo", "{me}");

    // Log out on the portal (the header's button); the api answers 401.
    browser
        .goto(&stack.portal.url("/"))
        .await
        .expect("the home page");
    browser
        .find(Locator::Css("header form button"))
        .await
        .expect("the log-out button")
        .click()
        .await
        .expect("clicking it");
    // The logged-out page's header offers "Log in" again (only an anonymous visitor's header does).
    browser
        .wait()
        .for_element(Locator::Css("header nav a[href='/accounts/login/']"))
        .await
        .expect("the logged-out page");
    browser
        .goto(&stack.api.url("/api/v1/me"))
        .await
        .expect("the api");
    let me = body_json(&browser).await;
    assert_eq!(
        me["detail"], "Authentication credentials were not provided.",
        "{me}"
    );
    browser.close().await.expect("closing the browser");
}
