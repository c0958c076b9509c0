//! People at the door: demo accounts and their passwords, logins, and the sessions a test
//! acts in.

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::{ADMIN, Client, DEMO_EMAILS, TestApp, session_cookie};

impl TestApp {
    /// A client of the gateway without identity.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.gateway, "testkit-anonymous/1.0", &[])
    }

    /// The password of a demo account, from the file user-service wrote on first start.
    pub fn demo_password(&self, email: &str) -> String {
        let path = self.data_dir.path().join("demo-credentials.json");
        let credentials: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("demo credentials exist"))
                .expect("demo credentials are JSON");
        credentials[email]
            .as_str()
            .unwrap_or_else(|| panic!("no demo password for {email}"))
            .to_owned()
    }

    /// `POST /api/v1/auth/login` from a browser named `user_agent`; the raw answer.
    pub async fn login(&self, email: &str, password: &str, user_agent: &str) -> Response {
        Client::new(&self.gateway, user_agent, &[])
            .send_json(
                Method::POST,
                "/api/v1/auth/login",
                &serde_json::json!({"email": email, "password": password}),
            )
            .await
    }

    /// A fresh session of `email` (with `password`), in a browser named `user_agent`.
    pub async fn session_of(&self, email: &str, password: &str, user_agent: &str) -> Client {
        let response = self.login(email, password, user_agent).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let cookie = session_cookie(&response).expect("login sets the session cookie");
        Client::with_cookie(&self.gateway, user_agent, &cookie)
    }

    /// A fresh session of demo account `user_id`.
    pub async fn login_demo(&self, user_id: i64) -> Client {
        let email = DEMO_EMAILS
            .iter()
            .find(|(id, _)| *id == user_id)
            .map(|(_, email)| *email)
            .unwrap_or_else(|| panic!("user {user_id} is no demo account"));
        self.session_of(
            email,
            &self.demo_password(email),
            &format!("testkit-browser/{user_id}"),
        )
        .await
    }

    /// The session of demo account `user_id` this app keeps, logged in on first use.
    pub async fn as_user(&self, user_id: i64) -> &Client {
        if user_id == ADMIN {
            return &self.admin;
        }
        self.sessions
            .get(&user_id)
            .unwrap_or_else(|| panic!("user {user_id} is no demo account"))
            .get_or_init(|| self.login_demo(user_id))
            .await
    }

    /// `POST /api/v1/auth/register` as a visitor; the raw answer (202 whether or not the
    /// address was taken).
    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.anonymous()
            .send_json(
                Method::POST,
                "/api/v1/auth/register",
                &serde_json::json!({"email": email, "name": "Someone", "password": password}),
            )
            .await
    }

    /// A new customer account, registered as a visitor would, and its first session.
    pub async fn register_and_login(&self, email: &str) -> Client {
        let password = "a long passphrase for tests";
        let registered = self.register(email, password).await;
        assert_eq!(
            registered.status(),
            StatusCode::ACCEPTED,
            "registration of {email}"
        );
        self.session_of(email, password, "test-browser/1.0").await
    }

    /// A new account made by the administrator; the account as the API shows it.
    pub async fn create_user(&self, email: &str, name: &str) -> Value {
        let response = self
            .send_json(
                Method::POST,
                "/api/v1/users",
                &serde_json::json!({"email": email, "name": name, "password": "a long passphrase"}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "creation of {email}"
        );
        let id = response.json::<Value>().await.expect("JSON")["id"].clone();
        self.get_json(&format!("/api/v1/users/{id}")).await
    }
}
