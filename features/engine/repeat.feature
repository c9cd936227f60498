# language: zh-CN
功能: 再犯加重(repeat)
  同一违规在窗口期内再次发生,按倍数加重;超过窗口期按原分值计。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | M1   | H1   | 是   |
    并且 规则文件如下:
      """
      point_types:
        - {key: work, name: 零基积分, holder: person, step: 0.5, period: year}
      event_types:
        - key: meeting
          name: 会议考勤
          subject: person
          fields:
            - {name: status, type: choice, choices: [present, late, absent], required: true}
      rules:
        - id: A1
          name: 无故缺席会议
          point_type: work
          event: meeting
          when: status == "absent"
          points: {fixed: -1}
          repeat: {within_days: 90, factor: 2}
        - id: A2
          name: 迟到
          point_type: work
          event: meeting
          when: status in ["late"]
          points: {fixed: -0.5}
          repeat: {within_days: 30, factor: 1.5}
      """

  场景: 90 天内再次缺席加倍扣分,超过 90 天按原分值
    当 录入以下事件:
      | 编号 | 类型    | 时间             | 村民 | 字段          |
      | a1   | meeting | 2026-01-10 19:00 | M1   | status=absent |
      | a2   | meeting | 2026-03-10 19:00 | M1   | status=absent |
      | a3   | meeting | 2026-09-10 19:00 | M1   | status=absent |
      | a4   | meeting | 2026-09-11 19:00 | M1   | status=present |
    那么 事件 a1 按规则 A1 记 -1 分
    并且 事件 a2 按规则 A1 记 -2 分,说明为:
      """
      基础分 -1
      90 天内再犯,× 2 = -2
      """
    并且 事件 a2 按规则 A1 的英文说明为:
      """
      base points -1
      repeated within 90 days, × 2 = -2
      """
    并且 事件 a3 按规则 A1 记 -1 分
    并且 事件 a4 的结果为“未计分”
    并且 M1 的 work 余额为 -4

  场景: 加重后的分值按步长取整(-0.5 × 1.5 = -0.75 → -1)
    当 逐条录入以下事件:
      | 编号 | 类型    | 时间             | 村民 | 字段        |
      | l1   | meeting | 2026-01-10 19:00 | M1   | status=late |
      | l2   | meeting | 2026-01-20 19:00 | M1   | status=late |
    那么 事件 l1 按规则 A2 记 -0.5 分
    并且 事件 l2 按规则 A2 记 -1 分
    并且 M1 的 work 余额为 -1.5
