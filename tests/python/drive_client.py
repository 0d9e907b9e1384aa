"""Drives every admin operation through a client that openapi-python-client
generated from openapi/openapi.json, against a running sms-router.

    python drive_client.py BASE_URL ADMIN_TOKEN

Exits 0 when every step got the status and the shape the spec promises.
"""

import sys

from sms_router_client import AuthenticatedClient
from sms_router_client.api.admin import (
    add_user_phone,
    clear_opt_out,
    confirm_phone_verification,
    create_user,
    delete_config,
    delete_phone,
    delete_user,
    get_config,
    get_usage_summary,
    get_user,
    list_configs,
    list_opt_outs,
    list_usage_logs,
    list_user_phones,
    list_users,
    lookup_number,
    put_config,
    send_user_message,
    start_phone_verification,
    update_phone,
    update_user,
)
from sms_router_client.models import (
    AddPhoneRequest,
    ClearablePhoneField,
    ConfirmVerificationRequest,
    CreateUserRequest,
    PutConfigRequest,
    SendMessageRequest,
    UpdatePhoneRequest,
    UpdateUserRequest,
    VerificationMethodDto,
)

failures = []


def step(name, response, status, check=lambda parsed: True):
    """Records a failure unless `response` has `status` and a parsed body
    that `check` accepts."""
    try:
        ok = response.status_code == status and check(response.parsed)
    except Exception as error:  # a parse failure is what this is looking for
        ok = False
        print(f"{name}: {error!r}")
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {int(response.status_code)}")
    if not ok:
        failures.append(name)
        print(f"     {response.content[:300]!r}")


def main(base, token):
    client = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=False)

    r = create_user.sync_detailed(
        client=client,
        body=CreateUserRequest(full_name="Ada Lovelace", email="ada@example.com", phone_number="+12015550123"),
    )
    step("create_user", r, 201, lambda u: u.full_name == "Ada Lovelace")
    user = r.parsed.id
    step("get_user", get_user.sync_detailed(user, client=client), 200, lambda u: u.email == "ada@example.com")
    step("get_user (missing)", get_user.sync_detailed(999999, client=client), 404)
    step("list_users", list_users.sync_detailed(client=client), 200, lambda p: len(p.items) == 1)
    step(
        "update_user (clear email)",
        update_user.sync_detailed(user, client=client, body=UpdateUserRequest(email=None)),
        200,
        lambda u: u.email is None,
    )
    step(
        "create_user (taken number)",
        create_user.sync_detailed(client=client, body=CreateUserRequest(full_name="Bo", phone_number="+12015550123")),
        409,
    )

    r = add_user_phone.sync_detailed(
        user,
        client=client,
        body=AddPhoneRequest(phone_number="+12015550177", verification_method=VerificationMethodDto.MANUAL),
    )
    step("add_user_phone", r, 201, lambda p: p.verification_method == VerificationMethodDto.MANUAL)
    phone = r.parsed.id
    step("list_user_phones", list_user_phones.sync_detailed(user, client=client), 200, lambda p: len(p.items) == 1)
    step(
        "update_phone (clear verification_method)",
        update_phone.sync_detailed(phone, client=client, body=UpdatePhoneRequest(verification_method=None)),
        200,
        lambda p: p.verification_method is None,
    )
    step(
        "update_phone (verification_method, then clear it by name)",
        update_phone.sync_detailed(
            phone,
            client=client,
            body=UpdatePhoneRequest(verification_method=VerificationMethodDto.SMS),
        ),
        200,
        lambda p: p.verification_method == VerificationMethodDto.SMS,
    )
    step(
        "update_phone (clear)",
        update_phone.sync_detailed(
            phone,
            client=client,
            body=UpdatePhoneRequest(clear=[ClearablePhoneField.VERIFICATION_METHOD]),
        ),
        200,
        lambda p: p.verification_method is None,
    )
    step(
        "lookup_number",
        lookup_number.sync_detailed(client=client, phone_number="+12015550177"),
        200,
        lambda l: l.user is not None and l.user.id == user,
    )
    step(
        "lookup_number (nobody)",
        lookup_number.sync_detailed(client=client, phone_number="+12015550199"),
        200,
        lambda l: l.user is None and l.source is None,
    )

    step(
        "send_user_message",
        send_user_message.sync_detailed(user, client=client, body=SendMessageRequest(body="hello")),
        202,
    )
    step("start_phone_verification", start_phone_verification.sync_detailed(phone, client=client), 202)
    step(
        "confirm_phone_verification (wrong code)",
        confirm_phone_verification.sync_detailed(
            phone, client=client, body=ConfirmVerificationRequest(code="000000")
        ),
        422,
    )

    step("list_configs", list_configs.sync_detailed(client=client), 200, lambda p: len(p.items) > 0)
    step(
        "put_config",
        put_config.sync_detailed("error_reply", client=client, body=PutConfigRequest(value="Oops.")),
        200,
        lambda c: c.value == "Oops.",
    )
    step("get_config", get_config.sync_detailed("error_reply", client=client), 200, lambda c: not c.is_default)
    step("delete_config", delete_config.sync_detailed("error_reply", client=client), 204)

    step("list_usage_logs", list_usage_logs.sync_detailed(client=client), 200)
    step("get_usage_summary", get_usage_summary.sync_detailed(client=client), 200)
    step("list_opt_outs", list_opt_outs.sync_detailed(client=client), 200)
    step(
        "clear_opt_out (a number that has not opted out)",
        clear_opt_out.sync_detailed("+12015550999", client=client),
        404,
    )

    step("delete_phone", delete_phone.sync_detailed(phone, client=client), 204)
    step("delete_user", delete_user.sync_detailed(user, client=client), 204)

    if failures:
        print(f"{len(failures)} failed: {', '.join(failures)}")
        return 1
    print("every operation answered as the spec says")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
