-- Plans carried out on the server (see rapport_domain::plan and postgres/plan.rs). A write is
-- BEGIN, one call that locks the members concerned and reads the facts, one call that writes the
-- plan the domain made of them, COMMIT. These functions read facts and write effects; they decide
-- nothing: every rule and every consequence is the domain's, in Rust.
--
-- Why functions and not plain statements: a statement's snapshot is taken when it starts, before
-- it waits for a lock, so a statement that locks members and reads their pair rules, blocks and
-- invitations in one go could read them as they were before the transaction it waited for
-- committed. In a (volatile) function each statement takes a new snapshot, so the facts are read
-- after the locks are held, as the embedded store's single writer reads them.

-- A sender's invitations created since p_window_start, as the standing rules count them, and how
-- many restrictions they ever had.
CREATE FUNCTION rapport_standing(p_sender bigint, p_window_start bigint,
                                 OUT ignored bigint, OUT decided bigint, OUT accepted bigint,
                                 OUT restrictions bigint)
LANGUAGE sql STABLE AS $$
    SELECT count(*) FILTER (WHERE i.ignore_reason IS NOT NULL),
           count(*) FILTER (WHERE i.state IN ('accepted', 'ignored', 'expired')),
           count(*) FILTER (WHERE i.state = 'accepted'),
           (SELECT count(*) FROM restrictions x WHERE x.member_id = p_sender)
      FROM invitations i
     WHERE i.sender_id = p_sender AND i.created_at > p_window_start
$$;

-- The facts of a send from p_sender to p_recipient, after locking both (in id order). One row, or
-- none when the sender does not exist. `nth_*` are the creation times of the sender's n-th newest
-- invitation for the free and the premium weekly limit; the standing counts (`rv_*`) are read
-- only when the pair's withdrawals reach p_resends (NULL otherwise).
CREATE FUNCTION rapport_send_facts(p_sender bigint, p_recipient bigint, p_nth_free bigint,
                                   p_nth_premium bigint, p_now bigint, p_window_start bigint,
                                   p_resends bigint)
RETURNS TABLE (
    s_active boolean, s_email text, s_premium boolean, s_from text, s_pending bigint,
    s_connections bigint, s_prefs text,
    r_found boolean, r_active boolean, r_email text, r_premium boolean, r_from text,
    r_pending bigint, r_connections bigint, r_prefs text,
    f_blocked boolean, f_connected boolean,
    p_id bigint, p_sender_id bigint, p_recipient_id bigint, p_note text, p_state text,
    p_reason text, p_created_at bigint, p_decided_at bigint,
    f_barred boolean, f_cooldown_until bigint, f_withdrawals bigint, f_recipient_barred boolean,
    f_nth_free bigint, f_nth_premium bigint, f_restricted_until bigint,
    rv_ignored bigint, rv_decided bigint, rv_accepted bigint, rv_withdrawn_to bigint,
    rv_restrictions bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_withdrawals bigint;
    v_ignored bigint;
    v_decided bigint;
    v_accepted bigint;
    v_withdrawn_to bigint;
    v_restrictions bigint;
BEGIN
    PERFORM 1 FROM members WHERE id IN (p_sender, p_recipient) ORDER BY id FOR NO KEY UPDATE;
    SELECT pr.withdrawals INTO v_withdrawals FROM pair_rules pr
     WHERE pr.sender_id = p_sender AND pr.recipient_id = p_recipient;
    v_withdrawals := coalesce(v_withdrawals, 0);
    IF v_withdrawals >= p_resends THEN
        SELECT * INTO v_ignored, v_decided, v_accepted, v_restrictions
          FROM rapport_standing(p_sender, p_window_start);
        SELECT count(*) INTO v_withdrawn_to FROM invitations w
         WHERE w.sender_id = p_sender AND w.recipient_id = p_recipient
           AND w.state = 'withdrawn' AND w.decided_at > p_window_start;
    END IF;
    RETURN QUERY
    SELECT s.status = 'active', s.email, s.tier = 'premium', s.invitations_from, s.pending_sent,
           s.connection_count, s.notification_prefs,
           r.id IS NOT NULL, r.status = 'active', r.email, r.tier = 'premium', r.invitations_from,
           r.pending_sent, r.connection_count, r.notification_prefs,
           EXISTS (SELECT 1 FROM blocks b
                    WHERE (b.blocker_id = p_sender AND b.blocked_id = p_recipient)
                       OR (b.blocker_id = p_recipient AND b.blocked_id = p_sender)),
           EXISTS (SELECT 1 FROM connections c WHERE c.member_id = p_sender AND c.other_id = p_recipient),
           p.id, p.sender_id, p.recipient_id, p.note, p.state, p.ignore_reason, p.created_at,
           p.decided_at,
           coalesce(pr.barred, false), pr.cooldown_until, v_withdrawals,
           coalesce((SELECT rb.barred FROM pair_rules rb
                      WHERE rb.sender_id = p_recipient AND rb.recipient_id = p_sender), false),
           (SELECT i.created_at FROM invitations i WHERE i.sender_id = p_sender
             ORDER BY i.id DESC LIMIT 1 OFFSET greatest(p_nth_free, 1) - 1),
           (SELECT i.created_at FROM invitations i WHERE i.sender_id = p_sender
             ORDER BY i.id DESC LIMIT 1 OFFSET greatest(p_nth_premium, 1) - 1),
           (SELECT max(x.until) FROM restrictions x
             WHERE x.member_id = p_sender AND x.until > p_now AND x.lifted_at IS NULL),
           v_ignored, v_decided, v_accepted, v_withdrawn_to, v_restrictions
      FROM members s
      LEFT JOIN members r ON r.id = p_recipient AND p_recipient <> p_sender
      LEFT JOIN invitations p
             ON LEAST(p.sender_id, p.recipient_id) = LEAST(p_sender, p_recipient)
            AND GREATEST(p.sender_id, p.recipient_id) = GREATEST(p_sender, p_recipient)
            AND p.state = 'pending'
      LEFT JOIN pair_rules pr ON pr.sender_id = p_sender AND pr.recipient_id = p_recipient
     WHERE s.id = p_sender;
END $$;

-- The facts of an action on invitation p_id: the invitation, locked after both its members (in id
-- order), their connection counts and preferences, whether either blocked the other, the sender's
-- restriction in force, and with p_review the sender's standing counts. No row when there is no
-- such invitation.
CREATE FUNCTION rapport_act_facts(p_id bigint, p_now bigint, p_window_start bigint,
                                  p_review boolean)
RETURNS TABLE (
    i_id bigint, i_sender_id bigint, i_recipient_id bigint, i_note text, i_state text,
    i_reason text, i_created_at bigint, i_decided_at bigint,
    s_connections bigint, s_prefs text, r_connections bigint, r_prefs text,
    f_blocked boolean, f_restricted_until bigint,
    rv_ignored bigint, rv_decided bigint, rv_accepted bigint, rv_restrictions bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_sender bigint;
    v_recipient bigint;
    v_ignored bigint;
    v_decided bigint;
    v_accepted bigint;
    v_restrictions bigint;
BEGIN
    -- Who sent and who received an invitation never changes: read them unlocked, lock both
    -- members, then read the invitation again, locked, as it is now.
    SELECT i.sender_id, i.recipient_id INTO v_sender, v_recipient FROM invitations i WHERE i.id = p_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM 1 FROM members WHERE id IN (v_sender, v_recipient) ORDER BY id FOR NO KEY UPDATE;
    PERFORM 1 FROM invitations WHERE id = p_id FOR UPDATE;
    IF p_review THEN
        SELECT * INTO v_ignored, v_decided, v_accepted, v_restrictions
          FROM rapport_standing(v_sender, p_window_start);
    END IF;
    RETURN QUERY
    SELECT i.id, i.sender_id, i.recipient_id, i.note, i.state, i.ignore_reason, i.created_at,
           i.decided_at,
           s.connection_count, s.notification_prefs, r.connection_count, r.notification_prefs,
           EXISTS (SELECT 1 FROM blocks b
                    WHERE (b.blocker_id = v_sender AND b.blocked_id = v_recipient)
                       OR (b.blocker_id = v_recipient AND b.blocked_id = v_sender)),
           (SELECT max(x.until) FROM restrictions x
             WHERE x.member_id = v_sender AND x.until > p_now AND x.lifted_at IS NULL),
           v_ignored, v_decided, v_accepted, v_restrictions
      FROM invitations i
      JOIN members s ON s.id = i.sender_id
      JOIN members r ON r.id = i.recipient_id
     WHERE i.id = p_id;
END $$;

-- Carries out a plan: a JSON array of effects, in order (postgres/plan.rs writes it). Returns the
-- id of the invitation the plan created, or NULL. An invitation reference of 0 is that invitation.
-- An event that follows a notice points at the notification the notice created.
CREATE FUNCTION rapport_apply(p_plan jsonb, p_at bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
    n jsonb;
    v_new bigint;
    v_inv bigint;
    v_notification bigint;
    v_a bigint;
    v_b bigint;
    v_count bigint;
BEGIN
    FOR e IN SELECT value FROM jsonb_array_elements(p_plan) LOOP
        CASE e->>'op'
        WHEN 'create_invitation' THEN
            INSERT INTO invitations (sender_id, recipient_id, note, created_at, next_reminder_at)
            VALUES ((e->>'sender')::bigint, (e->>'recipient')::bigint, e->>'note', p_at,
                    (e->>'reminder')::bigint)
            RETURNING id INTO v_new;
        WHEN 'decide' THEN
            UPDATE invitations SET state = e->>'state', ignore_reason = e->>'reason',
                   decided_at = p_at, next_reminder_at = NULL
             WHERE id = (e->>'invitation')::bigint AND state = 'pending';
        WHEN 'pending_sent' THEN
            UPDATE members SET pending_sent = pending_sent + (e->>'delta')::bigint
             WHERE id = (e->>'member')::bigint;
        WHEN 'lift_bar' THEN
            UPDATE pair_rules SET barred = false
             WHERE sender_id = (e->>'sender')::bigint AND recipient_id = (e->>'recipient')::bigint;
        WHEN 'bar' THEN
            INSERT INTO pair_rules (sender_id, recipient_id, barred)
            VALUES ((e->>'sender')::bigint, (e->>'recipient')::bigint, true)
            ON CONFLICT (sender_id, recipient_id) DO UPDATE SET barred = true;
        WHEN 'withdrawal' THEN
            INSERT INTO pair_rules (sender_id, recipient_id, cooldown_until, withdrawals)
            VALUES ((e->>'sender')::bigint, (e->>'recipient')::bigint, (e->>'until')::bigint, 1)
            ON CONFLICT (sender_id, recipient_id) DO UPDATE
               SET cooldown_until = excluded.cooldown_until,
                   withdrawals = pair_rules.withdrawals + 1;
        WHEN 'connect' THEN
            v_a := (e->>'a')::bigint;
            v_b := (e->>'b')::bigint;
            INSERT INTO connections (member_id, other_id, created_at)
            VALUES (v_a, v_b, p_at), (v_b, v_a, p_at) ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            IF v_count > 0 THEN
                UPDATE members SET connection_count = connection_count + 1 WHERE id IN (v_a, v_b);
                INSERT INTO graph_changes (a_id, b_id, created_at)
                VALUES (LEAST(v_a, v_b), GREATEST(v_a, v_b), p_at);
            END IF;
        WHEN 'report' THEN
            INSERT INTO reports (invitation_id, reporter_id, reported_id, created_at)
            VALUES ((e->>'invitation')::bigint, (e->>'reporter')::bigint,
                    (e->>'reported')::bigint, p_at);
        WHEN 'forget' THEN
            DELETE FROM notifications WHERE invitation_id = (e->>'invitation')::bigint
               AND kind IN ('invitation_received', 'invitation_reminder');
            DELETE FROM mail_queue WHERE invitation_id = (e->>'invitation')::bigint
               AND kind IN ('invitation_received', 'invitation_reminder');
        WHEN 'restrict' THEN
            INSERT INTO restrictions (member_id, level, reason, source, starts_at, until)
            VALUES ((e->>'member')::bigint, (e->>'level')::bigint, e->>'reason', e->>'source',
                    p_at, (e->>'until')::bigint);
        WHEN 'emit' THEN
            v_notification := NULL;
            n := e->'notice';
            IF n IS NOT NULL AND jsonb_typeof(n) = 'object' THEN
                v_inv := nullif((n->>'invitation')::bigint, 0);
                IF (n->>'invitation')::bigint = 0 THEN
                    v_inv := v_new;
                END IF;
                IF n->>'cadence' IS NOT NULL THEN
                    INSERT INTO mail_queue (member_id, kind, cadence, actor_id, invitation_id,
                                            created_at, due_at)
                    VALUES ((n->>'member')::bigint, n->>'kind', n->>'cadence',
                            (n->>'actor')::bigint, v_inv, p_at, (n->>'due')::bigint);
                END IF;
                IF (n->>'in_app')::boolean THEN
                    INSERT INTO notifications (member_id, kind, actor_id, invitation_id, created_at)
                    VALUES ((n->>'member')::bigint, n->>'kind', (n->>'actor')::bigint, v_inv, p_at)
                    RETURNING id INTO v_notification;
                END IF;
            END IF;
            v_inv := (e->>'invitation')::bigint;
            IF v_inv = 0 THEN
                v_inv := v_new;
            END IF;
            INSERT INTO events (type, invitation_id, a_id, b_id, notification_id, notified_id,
                                data, created_at)
            VALUES (e->>'kind', v_inv, (e->>'a')::bigint, (e->>'b')::bigint, v_notification,
                    CASE WHEN v_notification IS NOT NULL THEN (n->>'member')::bigint END,
                    e->>'data', p_at);
        WHEN 'lift_restrictions' THEN
            UPDATE restrictions SET lifted_at = p_at, end_noticed = true
             WHERE member_id = (e->>'member')::bigint AND until > p_at AND lifted_at IS NULL;
        WHEN 'resolve_report' THEN
            UPDATE reports SET status = e->>'status', resolved_at = p_at,
                   resolved_by = (e->>'by')::bigint
             WHERE id = (e->>'report')::bigint;
        WHEN 'set_status' THEN
            UPDATE members SET status = e->>'status' WHERE id = (e->>'member')::bigint;
        WHEN 'revoke_tokens' THEN
            DELETE FROM tokens WHERE member_id = (e->>'member')::bigint;
        WHEN 'graph_visibility' THEN
            -- The connections stay; the graph index (on every replica) shows or hides them.
            v_a := (e->>'member')::bigint;
            INSERT INTO graph_changes (a_id, b_id, created_at)
            SELECT LEAST(v_a, o::bigint), GREATEST(v_a, o::bigint), p_at
              FROM jsonb_array_elements_text(e->'others') AS o;
        WHEN 'disconnect' THEN
            v_a := (e->>'a')::bigint;
            v_b := (e->>'b')::bigint;
            DELETE FROM connections
             WHERE (member_id = v_a AND other_id = v_b) OR (member_id = v_b AND other_id = v_a);
            GET DIAGNOSTICS v_count = ROW_COUNT;
            IF v_count > 0 THEN
                UPDATE members SET connection_count = connection_count - 1 WHERE id IN (v_a, v_b);
                INSERT INTO graph_changes (a_id, b_id, created_at)
                VALUES (LEAST(v_a, v_b), GREATEST(v_a, v_b), p_at);
            END IF;
        WHEN 'block' THEN
            INSERT INTO blocks (blocker_id, blocked_id, created_at)
            VALUES ((e->>'blocker')::bigint, (e->>'blocked')::bigint, p_at)
            ON CONFLICT DO NOTHING;
        WHEN 'erase_account' THEN
            v_a := (e->>'member')::bigint;
            DELETE FROM blocks WHERE blocker_id = v_a OR blocked_id = v_a;
            DELETE FROM idempotency_keys WHERE member_id = v_a;
            UPDATE members SET status = 'closed', email = 'closed-' || id || '@closed.invalid',
                   password_hash = '', name = 'Former member', headline = '', company = '',
                   location = '', pending_sent = 0
             WHERE id = v_a;
            -- Notes they wrote are personal data too.
            UPDATE invitations SET note = NULL WHERE sender_id = v_a;
        WHEN 'next_reminder' THEN
            UPDATE invitations SET reminders_sent = reminders_sent + (e->>'sent')::bigint,
                   next_reminder_at = (e->>'next')::bigint
             WHERE id = (e->>'invitation')::bigint;
        WHEN 'restriction_end_noticed' THEN
            UPDATE restrictions SET end_noticed = true WHERE id = (e->>'restriction')::bigint;
        WHEN 'set_password' THEN
            UPDATE members SET password_hash = e->>'hash' WHERE id = (e->>'member')::bigint;
        WHEN 'delete_token' THEN
            DELETE FROM tokens WHERE hash = decode(e->>'hash', 'hex');
        ELSE
            RAISE EXCEPTION 'unknown plan effect %', e->>'op';
        END CASE;
    END LOOP;
    RETURN v_new;
END $$;

-- Each replica caches member rows and who is hidden from whom by blocks (postgres/caches.rs):
-- a transaction that changes a member's shown columns or a block tells every replica, on commit.
CREATE FUNCTION rapport_member_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rapport_cache', 'm' || NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER members_shown_columns_changed
    AFTER UPDATE OF email, name, headline, company, location, tier, role, status,
                    invitations_from, notification_prefs ON members
    FOR EACH ROW EXECUTE FUNCTION rapport_member_changed();

CREATE FUNCTION rapport_block_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    b blocks;
BEGIN
    IF TG_OP = 'DELETE' THEN b := OLD; ELSE b := NEW; END IF;
    PERFORM pg_notify('rapport_cache', 'b' || b.blocker_id || ',' || b.blocked_id);
    RETURN NULL;
END $$;
CREATE TRIGGER blocks_changed AFTER INSERT OR DELETE ON blocks
    FOR EACH ROW EXECUTE FUNCTION rapport_block_changed();
